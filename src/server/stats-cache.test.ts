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

  it('a scrape while the store cannot be read still answers: the store\'s gauges are left out, offload_store_up says 0', async () => {
    let now = 0;
    const store = countingStore(true);
    const metrics = createMetrics(createStatsCache(store, { ttlMs: 1_000, now: () => now }));
    const down = await metrics.registry.metrics();
    expect(down).toContain('offload_store_up 0');
    expect(down).not.toContain('offload_depth{');
    expect(down).toContain('process_cpu_user_seconds_total');
    now = 2_000;
    const up = await metrics.registry.metrics();
    expect(up).toContain('offload_store_up 1');
    expect(up).toContain('offload_depth{channel="emails"} 7');
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
