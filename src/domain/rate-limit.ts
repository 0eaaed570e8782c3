/**
 * Endpoint rate limits as a generic cell rate algorithm (GCRA), the token bucket written as one
 * number: the theoretical arrival time (`tat`) of the next call if calls went out exactly at the
 * configured rate. A bucket of `burst` permits refilled at `perSecond`:
 *
 * - a take of n permits starts from `base = max(tat, now)` (at most `now + burst × interval`:
 *   what a lower rate left owing is not carried into a higher one) and may go as far as
 *   `now + burst × interval`, so it grants `min(n, floor((now + burst × interval - base) / interval))`
 *   and moves `tat` to `base + granted × interval`;
 * - over any window of W ms the grants add up to at most `W × perSecond / 1000 + burst`: the k-th
 *   permit granted inside the window has `tat ≥ start + k × interval` and needs `tat ≤ end + burst × interval`.
 *
 * The state is one number so it can live in a database row shared by every instance; this module
 * is the reference the storage adapters follow (PostgreSQL runs the same arithmetic in SQL).
 */

export interface RateLimit {
  /** Sustained calls per second (may be fractional, e.g. 0.5 for one call every two seconds). */
  perSecond: number;
  /** Calls that may go out back to back after a quiet period. At least 1. */
  burst: number;
}

/** Flow control configured on one endpoint (`endpoints.<name>`), shared by every channel using it. */
export interface EndpointLimits {
  /** Calls per second across every channel and instance on the store; null for none. */
  rateLimit: RateLimit | null;
  /** Calls in flight to the endpoint across its channels and every instance on the store; null for no limit. */
  maxConcurrency: number | null;
  /** Cut rate and concurrency on 429/503, raise them step by step on success (AIMD). */
  adaptive: boolean;
}

export interface RateTake {
  /** Permits granted now (0 to the number asked for). */
  granted: number;
  /** When fewer were granted than asked: ms until the next permit. 0 otherwise. */
  waitMs: number;
  /** The new theoretical arrival time to store. */
  tat: number;
}

/** Milliseconds between two calls at the sustained rate. */
export function rateInterval(limit: RateLimit): number {
  return 1000 / limit.perSecond;
}

/** Takes up to `count` permits from a bucket whose stored state is `tat` (null: never used). */
export function takePermits(tat: number | null, now: number, limit: RateLimit, count: number): RateTake {
  const interval = rateInterval(limit);
  // A bucket is never owed more than a full burst at the rate in force: takes at one rate never
  // leave more, and a debt run up at a lower rate (an adaptive cut) is not paid off at that rate
  // once the rate rises again.
  const base = Math.min(Math.max(tat ?? now, now), now + limit.burst * interval);
  // Differences first: epoch ms are ~1.8e12, and adding an interval to one before subtracting
  // loses the fraction that decides whether one more permit fits.
  const room = Math.floor((now - base) / interval + limit.burst + 1e-6);
  const granted = Math.max(0, Math.min(count, room));
  const next = base + granted * interval;
  const waitMs = granted < count ? Math.max(1, Math.ceil(next - now + interval - limit.burst * interval)) : 0;
  return { granted, waitMs, tat: next };
}

/**
 * Gives back permits that were taken but not used (fewer calls were ready than permits taken).
 * Only valid while `tat` is still the value that take left: moving it back is then the same as
 * having taken fewer. After a later take it is not (that take may have started from `now`, not
 * from `tat`, and moving back would make room the bound does not allow), so callers compare first.
 */
export function returnPermits(tat: number, limit: RateLimit, count: number): number {
  return tat - Math.max(0, count) * rateInterval(limit);
}

/** A bucket kept in memory (one instance): adaptive limits of endpoints without a shared rateLimit. */
export interface LocalRateBucket {
  take(now: number, limit: RateLimit, count: number): RateTake;
  /** `tat`: what the take left; nothing is given back if another take came since. */
  giveBack(limit: RateLimit, count: number, tat: number): boolean;
}

export function createLocalRateBucket(): LocalRateBucket {
  let tat: number | null = null;
  return {
    take(now, limit, count) {
      const result = takePermits(tat, now, limit, count);
      tat = result.tat;
      return result;
    },
    giveBack(limit, count, taken) {
      if (tat === null || tat !== taken) return false;
      tat = returnPermits(tat, limit, count);
      return true;
    },
  };
}
