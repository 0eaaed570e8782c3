/**
 * Samples how late the runner's event loop runs a short timer. The receiver lives in this
 * process and stamps a request's start and end when its callbacks run, so while the loop is
 * held up (GC, CPU contention on a small machine) a stamp can be late by that much: a
 * connection closed before a retry was sent may be stamped after the retry arrived. The
 * verdict uses these samples to tell such stamp order from a real overlap.
 */
export interface LagSampler {
  /** The largest lag sampled between `from` and `to` (receiver clock). */
  maxLagBetween(from: number, to: number): number;
  /** Over the whole run, in ms. */
  summary(): { p99: number; max: number };
  stop(): void;
}

const EVERY_MS = 5;

export function startLagSampler(now: () => number): LagSampler {
  const times: number[] = [];
  const lags: number[] = [];
  let expected = now() + EVERY_MS;
  const timer = setInterval(() => {
    const at = now();
    times.push(at);
    lags.push(Math.max(0, at - expected));
    expected = at + EVERY_MS;
  }, EVERY_MS);
  timer.unref();
  return {
    maxLagBetween(from, to) {
      let max = 0;
      for (let i = firstAtOrAfter(times, from); i < times.length && times[i]! <= to; i++) max = Math.max(max, lags[i]!);
      return max;
    },
    summary() {
      const sorted = [...lags].sort((a, b) => a - b);
      return { p99: sorted[Math.floor(sorted.length * 0.99)] ?? 0, max: sorted.at(-1) ?? 0 };
    },
    stop: () => clearInterval(timer),
  };
}

function firstAtOrAfter(sorted: readonly number[], value: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
