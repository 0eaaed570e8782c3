/**
 * Adaptive endpoint limits (AIMD, as TCP congestion control): when an endpoint answers 429 or
 * 503 its allowed rate and concurrency are cut by half, then raised a step at a time while calls
 * succeed, so a struggling endpoint gets less traffic instead of a storm of retries.
 *
 * - A cut happens once per round: answers to calls that started before the latest cut were sent
 *   under the old limit and do not cut again (a burst of 429s is one signal, not thirty), and cuts
 *   are at least `cutEveryMs` apart, since endpoints usually count calls over a window of a second
 *   and keep refusing for a while after the burst that filled it.
 * - A cut starts from the rate the endpoint accepted over the last second when that is lower than
 *   the current limit (without a configured rate, the limit starts unknown).
 * - Raising happens at most once per `raiseEveryMs` with a success in between, by a tenth of the
 *   ceiling (or of the limit right after the latest cut when there is no ceiling).
 *
 * Pure: the caller passes the time; no I/O.
 */

export interface AdaptiveSettings {
  /** The configured rate (calls/s), the ceiling; null when the endpoint has none. */
  maxRate: number | null;
  /** The configured concurrency, the ceiling; null when unlimited. */
  maxConcurrency: number | null;
  /** Smallest rate a cut goes to. Default 0.1 calls/s (one call every 10 s). */
  minRate?: number;
  /** How often the limits may rise while calls succeed. Default 1 s. */
  raiseEveryMs?: number;
  /** Smallest time between two cuts. Default 1 s. */
  cutEveryMs?: number;
}

export interface AdaptiveState {
  /** Allowed calls per second now; null while not limited (no configured rate and never cut). */
  rate: number | null;
  /** Allowed calls in flight now; null while not limited. */
  concurrency: number | null;
  /** Cuts so far. */
  cuts: number;
  lastCutAt: number | null;
}

export interface AdaptiveLimit {
  state(): AdaptiveState;
  /**
   * A call that started at `startedAt` was answered 429/503; `acceptedRate` is the calls per second
   * the endpoint accepted over the last second, `inFlight` the calls in flight. True when cut.
   */
  throttled(now: number, call: { startedAt: number; acceptedRate: number; inFlight: number }): boolean;
  /** A call succeeded. Returns true when the limits were raised. */
  succeeded(now: number): boolean;
}

const DECREASE = 0.5;

export function createAdaptiveLimit(settings: AdaptiveSettings): AdaptiveLimit {
  const minRate = settings.minRate ?? 0.1;
  const raiseEveryMs = settings.raiseEveryMs ?? 1_000;
  const cutEveryMs = settings.cutEveryMs ?? 1_000;
  let rate = settings.maxRate;
  let concurrency = settings.maxConcurrency;
  let rateStep = settings.maxRate !== null ? Math.max(settings.maxRate / 10, minRate) : minRate;
  let cuts = 0;
  let lastCutAt: number | null = null;
  let lastChangeAt = Number.NEGATIVE_INFINITY;

  return {
    state: () => ({ rate, concurrency, cuts, lastCutAt }),
    throttled(now, call) {
      if (lastCutAt !== null && (call.startedAt < lastCutAt || now - lastCutAt < cutEveryMs)) return false;
      const fromRate = Math.min(rate ?? Number.POSITIVE_INFINITY, Math.max(call.acceptedRate, minRate));
      rate = Math.max(minRate, fromRate * DECREASE);
      const fromConcurrency = Math.min(concurrency ?? Number.POSITIVE_INFINITY, Math.max(call.inFlight, 1));
      concurrency = Math.max(1, Math.floor(fromConcurrency * DECREASE));
      if (settings.maxRate === null) rateStep = Math.max(rate / 10, minRate);
      cuts++;
      lastCutAt = now;
      lastChangeAt = now;
      return true;
    },
    succeeded(now) {
      if (lastCutAt === null || now - lastChangeAt < raiseEveryMs) return false;
      const before = { rate, concurrency };
      if (rate !== null) rate = settings.maxRate !== null ? Math.min(settings.maxRate, rate + rateStep) : rate + rateStep;
      if (concurrency !== null) concurrency = settings.maxConcurrency !== null ? Math.min(settings.maxConcurrency, concurrency + 1) : concurrency + 1;
      lastChangeAt = now;
      return before.rate !== rate || before.concurrency !== concurrency;
    },
  };
}
