import { describe, expect, it } from 'vitest';
import type { TargetStats } from '../storage/port.js';
import { createMetrics } from './metrics.js';
import { createStatsCache } from './stats-cache.js';

const row = (name: string, depth: number): TargetStats => ({ name, kind: 'queue', paused: false, depth, inFlight: 0, oldestAgeMs: 0, deadLettered: 0, skipped: 0, delivered: 0, parkedLanes: 0, stalledLanes: 0 });

function countingStore(fail = false) {
  const calls = { n: 0 };
  return {
    calls,
    async stats() {
      calls.n++;
      await new Promise((resolve) => setImmediate(resolve));
      if (fail && calls.n === 1) throw new Error('disk I/O error');
      return [row('audits', calls.n), row('emails', 7)];
    },
  };
}

describe('one stats computation per scrape', () => {
  it('a Prometheus scrape reads every gauge from one shared computation', async () => {
    const store = countingStore();
    const metrics = createMetrics(createStatsCache(store));
    const text = await metrics.registry.metrics();
    expect(store.calls.n).toBe(1);
    expect(text).toContain('offload_depth{channel="audits"} 1');
    expect(text).toContain('offload_dead_letters{channel="emails"} 0');
  });

  it('callers within the interval share one result; after it, or after invalidate, it is computed again', async () => {
    let now = 0;
    const store = countingStore();
    const cache = createStatsCache(store, { ttlMs: 1_000, now: () => now });
    await Promise.all([cache.stats(), cache.stats(), cache.target('audits')]);
    expect(store.calls.n).toBe(1);
    now = 999;
    expect((await cache.target('audits'))?.depth).toBe(1);
    now = 1_000;
    expect((await cache.target('audits'))?.depth).toBe(2);
    cache.invalidate();
    expect((await cache.target('audits'))?.depth).toBe(3);
    expect(await cache.target('nope')).toBeUndefined();
  });

  it('a failed computation is not served from the cache', async () => {
    const store = countingStore(true);
    const cache = createStatsCache(store, { now: () => 0 });
    await expect(cache.stats()).rejects.toThrow('disk I/O error');
    expect((await cache.target('audits'))?.depth).toBe(2);
  });
});
