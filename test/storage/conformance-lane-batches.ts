import { describe, expect, it } from 'vitest';
import type { FakeClock } from '../../src/domain/clock.js';
import type { Decision } from '../../src/domain/decide.js';
import type { NewMessage } from '../../src/domain/message.js';
import type { Claim, ClaimedDelivery, Store } from '../../src/storage/port.js';
import { useConformanceStore } from './conformance-fixture.js';

/**
 * Conformance of batches that span several lanes of several ordered targets: each lane of the
 * batch is renewed, blocked, released or moved on as if its deliveries had been answered alone.
 */
export function describeLaneBatchConformance(adapter: string, open: (clock: FakeClock) => Promise<Store>): void {
  describe(`storage conformance: ${adapter}: batches over several lanes`, () => {
    let clock: FakeClock;
    let store: Store;
    const LEASE = 30_000;
    useConformanceStore(open, (s, c) => {
      store = s;
      clock = c;
    });

    const msg = (id: string, key: string): NewMessage => ({ id, key, type: 'test.happened', data: '{}', metadata: {}, deliverAt: null });
    const claim = (target: string, owner = 'o1') => store.claim({ target, limit: 10, owner, leaseMs: LEASE });
    const ids = (claims: Claim[]) => claims.flatMap((c) => c.deliveries.map((d) => d.message.id)).sort();
    const answer = (d: ClaimedDelivery, decision: Decision) => ({
      deliveryId: d.deliveryId, epoch: d.epoch, decision,
      attempt: { attempt: d.attempt, startedAt: clock.now(), durationMs: 1, statusCode: 500, error: null, response: null },
    });
    const byId = (claims: Claim[]) => new Map(claims.flatMap((c) => c.deliveries.map((d) => [d.message.id, d])));

    async function claimFour(): Promise<Map<string, ClaimedDelivery>> {
      await store.send('f', [msg('a1', 'a'), msg('a2', 'a'), msg('b1', 'b'), msg('b2', 'b')]);
      await store.send('t', [msg('x1', 'x'), msg('x2', 'x'), msg('y1', 'y'), msg('y2', 'y')]);
      const claims = [...(await claim('f')), ...(await claim('t/b'))];
      expect(ids(claims)).toEqual(['a1', 'b1', 'x1', 'y1']);
      return byId(claims);
    }

    it('renews every lane of a batch, blocks two lanes of two targets at once, and releases the others together', async () => {
      const held = await claimFour();
      clock.advance(LEASE - 1_000);
      expect(await store.renew([...held.values()], LEASE)).toEqual([]);
      clock.advance(LEASE - 1_000);
      expect([...(await claim('f', 'o2')), ...(await claim('t/b', 'o2'))]).toEqual([]);
      const later = clock.now() + 60_000;
      expect(await store.settle([
        answer(held.get('a1')!, { kind: 'park', reason: 'HTTP 500' }),
        answer(held.get('x1')!, { kind: 'stall', availableAt: later, reason: 'HTTP 500' }),
      ])).toEqual(['blocked', 'blocked']);
      await store.release([held.get('b1')!, held.get('y1')!]);
      const next = [...(await claim('f', 'o2')), ...(await claim('t/b', 'o2'))];
      expect(ids(next)).toEqual(['b1', 'y1']);
      expect(next.flatMap((c) => c.deliveries.map((d) => d.attempt))).toEqual([1, 1]);
      expect((await store.listBlockedLanes('f', { limit: 10 })).items.map((l) => [l.lane, l.state])).toEqual([['a', 'parked']]);
      expect((await store.listBlockedLanes('t/b', { limit: 10 })).items.map((l) => [l.lane, l.state])).toEqual([['x', 'stalled']]);
      // Blocking a lane that is blocked already is no news.
      clock.set(later);
      const stalled = byId(await claim('t/b', 'o2'));
      expect(await store.settle([answer(stalled.get('x1')!, { kind: 'stall', availableAt: clock.now() + 60_000, reason: 'HTTP 500' })])).toEqual(['ok']);
    });

    it('moves some lanes of a batch on and keeps others at their head when one settlement answers all of them', async () => {
      const held = await claimFour();
      expect(await store.settle([
        answer(held.get('a1')!, { kind: 'delivered' }),
        answer(held.get('b1')!, { kind: 'retry', availableAt: clock.now() + 1_000, reason: 'HTTP 503' }),
        answer(held.get('x1')!, { kind: 'deadletter', reason: 'HTTP 400' }),
        answer(held.get('y1')!, { kind: 'retry', availableAt: clock.now() + 1_000, reason: 'HTTP 503' }),
      ])).toEqual(['ok', 'ok', 'ok', 'ok']);
      expect(ids([...(await claim('f')), ...(await claim('t/b'))])).toEqual(['a2', 'x2']);
      clock.advance(1_000);
      const retried = [...(await claim('f')), ...(await claim('t/b'))];
      expect(ids(retried)).toEqual(['b1', 'y1']);
      expect(retried.flatMap((c) => c.deliveries.map((d) => d.attempt))).toEqual([2, 2]);
    });
  });
}
