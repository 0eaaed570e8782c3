import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFakeClock, type FakeClock } from '../../src/domain/clock.js';
import type { Store } from '../../src/storage/port.js';

/**
 * Conformance cases for flow control (shared endpoint rate limits). Every adapter runs them
 * unchanged. PostgreSQL keeps rate-limit time on the database clock, so the cases either use
 * rates slow enough that refill does not matter, or wait the time the store itself named.
 */
export function describeFlowConformance(adapter: string, open: (clock: FakeClock) => Promise<Store>): void {
  describe(`storage conformance (flow control): ${adapter}`, () => {
    let clock: FakeClock;
    let store: Store;
    // One call every 100 s: nothing refills during a case.
    const slow = { perSecond: 0.01, burst: 3 };

    beforeEach(async () => {
      clock = createFakeClock(Date.now());
      store = await open(clock);
      await store.migrate();
    });
    afterEach(async () => {
      await store.close();
    });

    it('grants the burst, then nothing until the next permit is due, and says when', async () => {
      expect(await store.takeRatePermits('ep', slow, 2)).toMatchObject({ granted: 2, waitMs: 0 });
      const second = await store.takeRatePermits('ep', slow, 5);
      expect(second.granted).toBe(1);
      expect(second.waitMs).toBeGreaterThan(99_000);
      expect(second.waitMs).toBeLessThanOrEqual(100_000);
      expect((await store.takeRatePermits('ep', slow, 1)).granted).toBe(0);
    });

    it('does not carry what a lower rate left owing into a higher rate', async () => {
      // One permit at one call per 100 s leaves the bucket owing 100 s; at 1,000 calls/s it owes at most one millisecond.
      expect((await store.takeRatePermits('ep', { perSecond: 0.01, burst: 1 }, 1)).granted).toBe(1);
      const raised = await store.takeRatePermits('ep', { perSecond: 1_000, burst: 1 }, 1);
      expect(raised.granted === 1 || raised.waitMs <= 2).toBe(true);
    });

    it('keeps one bucket per key', async () => {
      expect((await store.takeRatePermits('a', slow, 5)).granted).toBe(3);
      expect((await store.takeRatePermits('b', slow, 5)).granted).toBe(3);
    });

    it('takes back permits that were given back, unless someone took since', async () => {
      const taken = await store.takeRatePermits('ep', slow, 3);
      expect(taken.granted).toBe(3);
      expect(await store.returnRatePermits('ep', slow, 2, taken.token)).toBe(true);
      const again = await store.takeRatePermits('ep', slow, 1);
      expect(again.granted).toBe(1);
      const last = await store.takeRatePermits('ep', slow, 1);
      expect(last.granted).toBe(1);
      // `again` is no longer the latest take: giving its permit back could exceed the burst.
      expect(await store.returnRatePermits('ep', slow, 1, again.token)).toBe(false);
      expect((await store.takeRatePermits('ep', slow, 5)).granted).toBe(0);
      expect(await store.returnRatePermits('unknown', slow, 2, 0)).toBe(false);
    });

    it('never grants more than the burst to concurrent takers', async () => {
      const takes = await Promise.all(Array.from({ length: 20 }, () => store.takeRatePermits('ep', slow, 1)));
      expect(takes.reduce((n, t) => n + t.granted, 0)).toBe(3);
    });

    it('refills at the configured rate', async () => {
      const fast = { perSecond: 20, burst: 1 };
      expect((await store.takeRatePermits('ep', fast, 1)).granted).toBe(1);
      const refused = await store.takeRatePermits('ep', fast, 1);
      expect(refused.granted).toBe(0);
      expect(refused.waitMs).toBeGreaterThan(0);
      expect(refused.waitMs).toBeLessThanOrEqual(50);
      // Wait what the store named, on whichever clock it keeps.
      clock.advance(refused.waitMs);
      await new Promise((resolve) => setTimeout(resolve, refused.waitMs + 5));
      expect((await store.takeRatePermits('ep', fast, 1)).granted).toBe(1);
    });
  });
}
