import type { TargetStats } from '../storage/port.js';

export interface StatsCache {
  /** Stats of every target: one store computation shared by every caller within `ttlMs`. */
  stats(): Promise<TargetStats[]>;
  /** Stats of one target, from the same shared computation. */
  target(name: string): Promise<TargetStats | undefined>;
  /** Forget the cached figures (after an operator action or a send through this instance). */
  invalidate(): void;
}

/**
 * Stats are a read over every target; a Prometheus scrape reads five gauges and a dashboard
 * polls /v1/channels, so without sharing each would run its own. Concurrent callers share the
 * computation in flight, and its result serves everyone for `ttlMs`.
 */
export function createStatsCache(source: { stats(): Promise<TargetStats[]> }, options: { ttlMs?: number; now?: () => number } = {}): StatsCache {
  const ttlMs = options.ttlMs ?? 1_000;
  const now = options.now ?? (() => performance.now());
  let cached: { at: number; value: Promise<TargetStats[]> } | undefined;
  let generation = 0;

  const stats = (): Promise<TargetStats[]> => {
    if (cached && now() - cached.at < ttlMs) return cached.value;
    const mine = ++generation;
    const value = source.stats();
    cached = { at: now(), value };
    // A failed computation is not served to the next caller.
    value.catch(() => {
      if (generation === mine) cached = undefined;
    });
    return value;
  };
  return {
    stats,
    async target(name) {
      return (await stats()).find((s) => s.name === name);
    },
    invalidate() {
      generation++;
      cached = undefined;
    },
  };
}
