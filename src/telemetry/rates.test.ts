import { describe, expect, it } from 'vitest';
import { createRates } from './rates.js';

const T0 = 1_800_000_000_000; // a multiple of 20 s: bucket edges line up

describe('in-memory rates', () => {
  it('turns counts into per-second rates per 5 s bucket over 15 minutes', () => {
    const rates = createRates();
    rates.recordOutcome('q', true, 10, T0);
    rates.recordOutcome('q', false, 5, T0 + 4_000);
    rates.recordOutcome('q', true, 20, T0 + 5_000);
    const s = rates.series(['q'], '15m', T0 + 10_000);
    expect(s.t).toHaveLength(180);
    expect(s.stepSeconds).toBe(5);
    expect(s.t.at(-1)).toBe((T0 + 10_000) / 1000);
    // T0 bucket: 10 delivered, 5 failed over 5 s; next bucket 20 over 5 s; current bucket empty.
    expect(s.deliveredPerSec.slice(-3)).toEqual([2, 4, 0]);
    expect(s.failedPerSec.slice(-3)).toEqual([1, 0, 0]);
  });

  it('estimates latency p50 and p99 within one histogram step', () => {
    const rates = createRates();
    const latencies = [...Array.from({ length: 98 }, () => 10), 1_000, 1_000];
    rates.recordOutcome('q', true, latencies.length, T0, latencies);
    const s = rates.series(['q'], '15m', T0 + 4_000);
    const p50 = s.latencyP50Ms.at(-1)!;
    const p99 = s.latencyP99Ms.at(-1)!;
    expect(p50).toBeGreaterThanOrEqual(10);
    expect(p50).toBeLessThan(15);
    expect(p99).toBeGreaterThanOrEqual(1_000);
    expect(p99).toBeLessThan(1_500);
    expect(s.latencyP50Ms.at(-2)).toBeNull();
  });

  it('forgets what is older than the window and keeps an hour at 20 s', () => {
    const rates = createRates();
    rates.recordOutcome('q', true, 100, T0);
    const later = T0 + 15 * 60_000;
    expect(rates.series(['q'], '15m', later).deliveredPerSec.reduce((a, b) => a + b, 0)).toBe(0);
    const hour = rates.series(['q'], '1h', later);
    expect(hour.stepSeconds).toBe(20);
    expect(hour.deliveredPerSec.reduce((a, b) => a + b, 0)).toBe(5);
    expect(rates.series(['q'], '1h', T0 + 60 * 60_000).deliveredPerSec.reduce((a, b) => a + b, 0)).toBe(0);
  });

  it('merges targets: sums counts and depths, keeps the worst breaker', () => {
    const rates = createRates();
    rates.recordOutcome('t/a', true, 5, T0);
    rates.recordOutcome('t/b', true, 15, T0);
    rates.recordSample([
      { target: 't/a', depth: 3, inFlight: 1, oldestAgeMs: 500, breaker: 'closed' },
      { target: 't/b', depth: 4, inFlight: 0, oldestAgeMs: 900, breaker: 'open' },
    ], T0 + 1_000);
    const s = rates.series(null, '15m', T0 + 5_000);
    expect(s.deliveredPerSec.at(-2)).toBe(4);
    expect(s.depth.at(-2)).toBe(7);
    expect(s.oldestAgeMs.at(-2)).toBe(900);
    expect(s.breaker.at(-2)).toBe(1);
    expect(s.depth.at(-1)).toBeNull();
  });

  it('reports the last minute for the channel listing', () => {
    const rates = createRates();
    for (let i = 0; i < 12; i++) rates.recordOutcome('q', true, 60, T0 + i * 5_000, [20]);
    expect(rates.recent(['q'], T0 + 60_000)).toMatchObject({ deliveredPerSec: 12, failedPerSec: 0 });
    expect(rates.recent(['nothing'], T0)).toEqual({ deliveredPerSec: 0, failedPerSec: 0, latencyP50Ms: null, latencyP99Ms: null });
  });
});
