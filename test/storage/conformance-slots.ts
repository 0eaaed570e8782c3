import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFakeClock, type FakeClock } from '../../src/domain/clock.js';
import type { SlotRequest, Store } from '../../src/storage/port.js';

/**
 * Conformance cases for endpoint concurrency slots shared by every instance on a store. Both
 * adapters keep slot expiry on the store's clock, a fake one here, so expiry is exact.
 */
export function describeSlotConformance(
  adapter: string,
  open: (clock: FakeClock) => Promise<Store>,
  /** A second store on the same database or file, as another instance would open it. */
  peer: (store: Store, clock: FakeClock) => Promise<Store>,
): void {
  describe(`storage conformance (concurrency slots): ${adapter}`, () => {
    let clock: FakeClock;
    let store: Store;
    const take = (owner: string, held: number, count: number, more: Partial<SlotRequest> = {}) =>
      store.takeConcurrencySlots({ key: 'ep', owner, held, count, limit: 5, ttlMs: 10_000, ...more });
    const holders = async (s: Store = store) => (await s.listConcurrencySlots()).filter((h) => h.held > 0).map((h) => [h.key, h.owner, h.held]);

    beforeEach(async () => {
      clock = createFakeClock(Date.now());
      store = await open(clock);
      await store.migrate();
    });
    afterEach(async () => {
      await store.close();
    });

    it('grants up to the limit across owners, and no more', async () => {
      expect(await take('a', 0, 3)).toMatchObject({ granted: 3, total: 3 });
      expect(await take('b', 0, 4)).toMatchObject({ granted: 2, total: 5 });
      expect(await take('a', 3, 1)).toMatchObject({ granted: 0, total: 5 });
      expect(await take('c', 0, 1)).toMatchObject({ granted: 0, total: 5 });
      // A lower limit (an adaptive cut) grants nothing while the others hold more than it.
      expect(await take('b', 2, 1, { limit: 4 })).toMatchObject({ granted: 0, total: 5 });
      expect(await holders()).toEqual([['ep', 'a', 3], ['ep', 'b', 2]]);
      const [first] = await store.listConcurrencySlots();
      expect(first!.expiresAt).toBe(clock.now() + 10_000);
    });

    it('records what an owner wanted and did not get, so holders learn that others wait', async () => {
      expect(await take('a', 0, 5)).toEqual({ granted: 5, total: 5, waiting: 0, owners: 1 });
      expect(await take('b', 0, 2)).toEqual({ granted: 0, total: 5, waiting: 0, owners: 2 });
      expect(await take('c', 0, 1)).toEqual({ granted: 0, total: 5, waiting: 2, owners: 3 });
      expect((await store.listConcurrencySlots()).map((h) => [h.owner, h.held, h.wanted])).toEqual([['a', 5, 0], ['b', 0, 2], ['c', 0, 1]]);
      // The holder's renewal and release tell it, key by key in the order given.
      expect(await store.holdConcurrencySlots('a', [{ key: 'ep', held: 3, wanted: 0 }, { key: 'other', held: 1, wanted: 0 }], 10_000)).toEqual([
        { total: 3, waiting: 3, owners: 3 },
        { total: 1, waiting: 0, owners: 1 },
      ]);
      // A take that gets all it asked for wants nothing more; one that holds and wants nothing leaves.
      expect(await take('b', 0, 2)).toEqual({ granted: 2, total: 5, waiting: 1, owners: 3 });
      expect(await take('c', 0, 0)).toEqual({ granted: 0, total: 5, waiting: 0, owners: 2 });
      expect((await store.listConcurrencySlots()).map((h) => [h.key, h.owner, h.held, h.wanted])).toEqual([['ep', 'a', 3, 0], ['ep', 'b', 2, 0], ['other', 'a', 1, 0]]);
      // An owner restates what it still wants when it releases and renews: waiting with nothing held keeps its row.
      await take('a', 3, 2);
      await store.holdConcurrencySlots('a', [{ key: 'ep', held: 0, wanted: 1 }], 10_000);
      expect((await store.listConcurrencySlots()).filter((h) => h.key === 'ep').map((h) => [h.owner, h.held, h.wanted])).toEqual([['a', 0, 1], ['b', 2, 0]]);
      await store.holdConcurrencySlots('a', [{ key: 'ep', held: 0, wanted: 0 }], 10_000);
      expect((await store.listConcurrencySlots()).filter((h) => h.key === 'ep').map((h) => h.owner)).toEqual(['b']);
    });

    it('keeps the slots of each key apart', async () => {
      expect((await take('a', 0, 5)).granted).toBe(5);
      expect((await take('a', 0, 5, { key: 'other' })).granted).toBe(5);
    });

    it('gives released slots to the next take, and forgets an owner that holds none', async () => {
      await take('a', 0, 5);
      await store.holdConcurrencySlots('a', [{ key: 'ep', held: 2, wanted: 0 }], 10_000);
      expect(await take('b', 0, 5)).toMatchObject({ granted: 3, total: 5 });
      await store.holdConcurrencySlots('a', [{ key: 'ep', held: 0, wanted: 0 }], 10_000);
      expect(await holders()).toEqual([['ep', 'b', 3]]);
      // A take granting nothing to an owner that holds nothing leaves no row behind.
      await take('b', 3, 2);
      expect(await take('c', 0, 0)).toMatchObject({ granted: 0, total: 5 });
      expect(await holders()).toEqual([['ep', 'b', 5]]);
      await store.holdConcurrencySlots('nobody', [], 10_000);
    });

    it('frees the slots of an owner that stopped renewing once they expire, and keeps a renewed one', async () => {
      await take('dead', 0, 2, { ttlMs: 1_000 });
      await take('alive', 0, 3, { ttlMs: 1_000 });
      expect((await take('late', 0, 1)).granted).toBe(0);
      clock.advance(600);
      await store.holdConcurrencySlots('alive', [{ key: 'ep', held: 3, wanted: 0 }], 1_000);
      clock.advance(400);
      // 'dead' expired right now; 'alive' renewed and holds on.
      expect(await holders()).toEqual([['ep', 'alive', 3]]);
      expect(await take('late', 0, 5)).toMatchObject({ granted: 2, total: 5 });
      clock.advance(1_000);
      expect(await holders()).toEqual([['ep', 'late', 2]]);
    });

    it('restores the hold of an owner that was cut off past its expiry when it takes or renews again', async () => {
      await take('a', 0, 2, { ttlMs: 1_000 });
      clock.advance(5_000);
      expect(await holders()).toEqual([]);
      // Still 2 calls in flight: the owner restates them, and they count against the others.
      expect(await take('a', 2, 1)).toMatchObject({ granted: 1, total: 3 });
      expect((await take('b', 0, 5)).granted).toBe(2);
      clock.advance(20_000);
      await store.holdConcurrencySlots('a', [{ key: 'ep', held: 1, wanted: 0 }, { key: 'other', held: 4, wanted: 0 }], 1_000);
      expect(await holders()).toEqual([['ep', 'a', 1], ['other', 'a', 4]]);
    });

    it('never grants more than the limit to concurrent takes', async () => {
      const takes = await Promise.all(Array.from({ length: 20 }, (_, i) => take(`o${i}`, 0, 1, { limit: 3 })));
      expect(takes.reduce((n, t) => n + t.granted, 0)).toBe(3);
      expect((await store.listConcurrencySlots()).reduce((n, h) => n + h.held, 0)).toBe(3);
    });

    it('is one pool for every store on the same database', async () => {
      const other = await peer(store, clock);
      try {
        expect((await take('a', 0, 3)).granted).toBe(3);
        expect(await holders(other)).toEqual([['ep', 'a', 3]]);
        expect(await other.takeConcurrencySlots({ key: 'ep', owner: 'b', held: 0, count: 5, limit: 5, ttlMs: 10_000 })).toMatchObject({ granted: 2, total: 5 });
        const both = await Promise.all([take('a', 3, 1), other.takeConcurrencySlots({ key: 'ep', owner: 'b', held: 2, count: 1, limit: 6, ttlMs: 10_000 })]);
        expect(both.reduce((n, t) => n + t.granted, 0)).toBe(1);
      } finally {
        await other.close();
      }
    });
  });
}
