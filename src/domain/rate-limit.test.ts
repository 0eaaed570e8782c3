import { describe, expect, it } from 'vitest';
import { createFakeClock } from './clock.js';
import { createLocalRateBucket, returnPermits, takePermits } from './rate-limit.js';

describe('rate limit (GCRA)', () => {
  const limit = { perSecond: 10, burst: 3 };

  it('grants the burst at once, then one permit per interval', () => {
    const now = 1_000_000;
    const first = takePermits(null, now, limit, 5);
    expect(first).toMatchObject({ granted: 3 });
    expect(first.waitMs).toBe(100);
    expect(takePermits(first.tat, now + 99, limit, 1).granted).toBe(0);
    expect(takePermits(first.tat, now + 100, limit, 5).granted).toBe(1);
    expect(takePermits(first.tat, now + 250, limit, 5).granted).toBe(2);
  });

  it('after a lower rate, a higher one grants its next permit within one of its own intervals, not when the lower rate would have', () => {
    const now = 1_000_000;
    const slow = { perSecond: 0.1, burst: 1 };
    const taken = takePermits(null, now, slow, 1);
    expect(takePermits(taken.tat, now + 500, slow, 1).granted).toBe(0);
    const fast = { perSecond: 2, burst: 1 };
    const raised = takePermits(taken.tat, now + 500, fast, 1);
    expect(raised.granted).toBe(0);
    expect(raised.waitMs).toBeLessThanOrEqual(500);
    expect(takePermits(raised.tat, now + 1_000, fast, 1).granted).toBe(1);
  });

  it('never holds more than the burst after a quiet period', () => {
    const first = takePermits(null, 0, limit, 1);
    expect(takePermits(first.tat, 3_600_000, limit, 100).granted).toBe(3);
  });

  it('keeps every window of W ms at or under W x perSecond + burst, whatever the pattern of takes', () => {
    const clock = createFakeClock(0);
    const bucket = createLocalRateBucket();
    const grants: number[] = [];
    let seed = 7;
    const random = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
    for (let i = 0; i < 20_000; i++) {
      clock.advance(Math.floor(random() * 30));
      const wanted = 1 + Math.floor(random() * 6);
      const take = bucket.take(clock.now(), limit, wanted);
      for (let g = 0; g < take.granted; g++) grants.push(clock.now());
      // Sometimes fewer calls were ready than permits taken.
      if (take.granted > 0 && random() < 0.2 && bucket.giveBack(limit, 1, take.tat)) grants.pop();
      // A give-back after someone else took is refused: it could make room the bound does not allow.
      if (take.granted > 0 && random() < 0.1) {
        const later = bucket.take(clock.now(), limit, 1);
        if (later.tat !== take.tat) expect(bucket.giveBack(limit, 1, take.tat)).toBe(false);
        if (later.granted) grants.push(clock.now());
      }
    }
    const windowMs = 5_000;
    let start = 0;
    let worst = 0;
    for (let end = 0; end < grants.length; end++) {
      while (grants[end]! - grants[start]! >= windowMs) start++;
      worst = Math.max(worst, end - start + 1);
    }
    expect(worst).toBeLessThanOrEqual((windowMs / 1000) * limit.perSecond + limit.burst);
    expect(worst).toBeGreaterThanOrEqual((windowMs / 1000) * limit.perSecond);
  });

  it('gives back unused permits as if they had never been taken', () => {
    const taken = takePermits(null, 0, limit, 3);
    expect(takePermits(returnPermits(taken.tat, limit, 2), 0, limit, 5).granted).toBe(2);
  });

  it('handles fractional rates', () => {
    const slow = { perSecond: 0.5, burst: 1 };
    const first = takePermits(null, 0, slow, 2);
    expect(first).toMatchObject({ granted: 1, waitMs: 2_000 });
    expect(takePermits(first.tat, 1_999, slow, 1).granted).toBe(0);
    expect(takePermits(first.tat, 2_000, slow, 1).granted).toBe(1);
  });
});

describe('rate limit arithmetic at epoch-ms magnitudes', () => {
  it('grants a permit exactly when it is due, whatever the interval', () => {
    for (const perSecond of [12.25, 7, 40 * 0.98, 0.3, 999]) {
      const limit = { perSecond, burst: 1 };
      let now = 1_795_996_749_226;
      let state = takePermits(null, now, limit, 1);
      for (let i = 0; i < 50; i++) {
        const refused = takePermits(state.tat, now, limit, 1);
        expect(refused.granted).toBe(0);
        now += refused.waitMs;
        state = takePermits(refused.tat, now, limit, 1);
        expect(state.granted).toBe(1);
      }
    }
  });
});
