import { describe, expect, it } from 'vitest';
import type { FakeClock } from '../../src/domain/clock.js';
import type { Decision } from '../../src/domain/decide.js';
import type { NewMessage } from '../../src/domain/message.js';
import type { Claim, Store } from '../../src/storage/port.js';
import { useConformanceStore } from './conformance-fixture.js';

/** Conformance cases of lane positions: gap-free per lane, previous id, kept when a lane empties. */
export function describeLanePositionConformance(adapter: string, open: (clock: FakeClock) => Promise<Store>): void {
  describe(`storage conformance: ${adapter}: lane positions`, () => {
    let clock: FakeClock;
    let store: Store;
    const LEASE = 30_000;
    useConformanceStore(open, (s, c) => {
      store = s;
      clock = c;
    });

    const msg = (id: string, key: string | null = null): NewMessage => ({ id, key, type: 'test.happened', data: '{}', metadata: {}, deliverAt: null });
    const claim = (target: string, batchSize = 1, limit = 10) => store.claim({ target, limit, owner: 'o1', leaseMs: LEASE, batchSize });
    const attempt = (n: number) => ({ attempt: n, startedAt: clock.now(), durationMs: 1, statusCode: 200, error: null, response: null });
    const settle = (claims: Claim[], decision: Decision = { kind: 'delivered' }) =>
      store.settle(claims.flatMap((c) => c.deliveries.map((d) => ({ deliveryId: d.deliveryId, epoch: d.epoch, decision, attempt: attempt(d.attempt) }))));
    const positions = (claims: Claim[]) => claims.flatMap((c) => c.deliveries.map((d) => [d.message.id, d.lanePosition?.position, d.lanePosition?.previousId]));

    it('numbers a fifo key gap-free: repeats keep their position, only deliveries count, and the count outlives an empty lane', async () => {
      await store.send('f', [msg('f1', 'k'), msg('f2', 'k'), msg('f3', 'k')]);
      const first = await claim('f');
      expect(positions(first)).toEqual([['f1', 1, null]]);
      await settle(first, { kind: 'retry', availableAt: clock.now(), reason: 'HTTP 500' });
      const again = await claim('f');
      expect(positions(again)).toEqual([['f1', 1, null]]);
      await settle(again);
      const f2 = await claim('f');
      expect(positions(f2)).toEqual([['f2', 2, 'f1']]);
      await settle(f2, { kind: 'deadletter', reason: 'permanent failure: HTTP 400' });
      const f3 = await claim('f');
      expect(positions(f3)).toEqual([['f3', 2, 'f1']]);
      await settle(f3);
      expect(await claim('f')).toEqual([]);
      await store.send('f', [msg('f4', 'k'), msg('g1', 'other')]);
      expect(positions(await claim('f')).sort()).toEqual([['f4', 3, 'f3'], ['g1', 1, null]]);
    });

    it('numbers the events of ordered batches and of each key lane of a subscription', async () => {
      await store.send('t', [msg('e1', 'a'), msg('e2', 'b'), msg('e3', 'a'), msg('e4', 'a'), msg('e5', 'b')]);
      const batch = await claim('t/a', 3, 1);
      expect(positions(batch)).toEqual([['e1', 1, null], ['e2', 2, 'e1'], ['e3', 3, 'e2']]);
      const next = { target: 't/a', limit: 1, owner: 'o1', leaseMs: LEASE, batchSize: 3 };
      const step = await store.settleAndClaim(batch.flatMap((c) => c.deliveries.map((d) => ({ deliveryId: d.deliveryId, epoch: d.epoch, decision: { kind: 'delivered' as const }, attempt: attempt(1) }))), next);
      expect(positions(step.claims)).toEqual([['e4', 4, 'e3'], ['e5', 5, 'e4']]);
      const keys = await claim('t/b');
      expect(positions(keys).sort()).toEqual([['e1', 1, null], ['e2', 1, null]]);
      await settle(keys);
      expect(positions(await claim('t/b')).sort()).toEqual([['e3', 2, 'e1'], ['e5', 2, 'e2']]);
    });

    it('a batch settled partly delivered moves its lane past the prefix only (the rest retried, or released untried)', async () => {
      await store.send('t', ['e1', 'e2', 'e3', 'e4', 'e5'].map((id) => msg(id)));
      const batch = await claim('t/a', 4, 1);
      const [d1, d2, d3, d4] = batch[0]!.deliveries;
      const one = (d: typeof d1, decision: Decision) => ({ deliveryId: d!.deliveryId, epoch: d!.epoch, decision, attempt: attempt(d!.attempt) });
      const retry: Decision = { kind: 'retry', availableAt: clock.now() + 1_000, reason: 'HTTP 503' };
      expect(await store.settle([one(d1, { kind: 'delivered' }), one(d2, { kind: 'delivered' }), one(d3, retry), one(d4, retry)])).toEqual(['ok', 'ok', 'ok', 'ok']);
      expect(await claim('t/a', 4, 1)).toEqual([]);
      clock.advance(1_000);
      const rest = await claim('t/a', 4, 1);
      expect(positions(rest)).toEqual([['e3', 3, 'e2'], ['e4', 4, 'e3'], ['e5', 5, 'e4']]);
      expect(rest[0]!.deliveries.map((d) => d.attempt)).toEqual([2, 2, 1]);
      const [r3, r4, r5] = rest[0]!.deliveries;
      expect(await store.settle([one(r3, { kind: 'delivered' })])).toEqual(['ok']);
      await store.release([r4!, r5!]);
      const again = await claim('t/a', 4, 1);
      expect(positions(again)).toEqual([['e4', 4, 'e3'], ['e5', 5, 'e4']]);
      expect(again[0]!.deliveries.map((d) => d.attempt)).toEqual([2, 1]);
    });

    it('a fenced settlement moves no position; unordered queues have none', async () => {
      await store.send('f', [msg('f1', 'k'), msg('f2', 'k')]);
      const stale = await claim('f');
      clock.advance(LEASE + 1);
      const taken = await claim('f');
      expect(positions(taken)).toEqual([['f1', 1, null]]);
      expect(await settle(stale)).toEqual(['fenced']);
      expect(await claim('f')).toEqual([]);
      await settle(taken);
      expect(positions(await claim('f'))).toEqual([['f2', 2, 'f1']]);
      await store.send('q', [msg('q1')]);
      expect((await claim('q'))[0]!.deliveries[0]!.lanePosition).toBeUndefined();
    });

    it('one settle batch mixing queue, fifo and subscription deliveries, a repeat and a stale lease: each answered in order, each lane moves on', async () => {
      await store.send('q', [msg('q1'), msg('q2')]);
      await store.send('f', [msg('f1', 'k'), msg('f2', 'k')]);
      await store.send('t', [msg('t1', 'k'), msg('t2', 'k')]);
      const [q1] = (await claim('q', 1, 1))[0]!.deliveries;
      const [f1] = (await claim('f'))[0]!.deliveries;
      const [a1] = (await claim('t/a'))[0]!.deliveries;
      const [b1] = (await claim('t/b'))[0]!.deliveries;
      const one = (d: typeof q1, epoch = d!.epoch) => ({ deliveryId: d!.deliveryId, epoch, decision: { kind: 'delivered' as const }, attempt: attempt(d!.attempt) });
      expect(await store.settle([one(f1), one(q1), one(q1), one(a1, a1!.epoch + 1), one(b1)])).toEqual(['ok', 'ok', 'fenced', 'fenced', 'ok']);
      expect(await claim('t/a')).toEqual([]);
      expect(await store.settle([one(a1)])).toEqual(['ok']);
      expect((await claim('q')).map((c) => c.deliveries[0]!.message.id)).toEqual(['q2']);
      expect(positions(await claim('f'))).toEqual([['f2', 2, 'f1']]);
      expect(positions(await claim('t/a'))).toEqual([['t2', 2, 't1']]);
      expect(positions(await claim('t/b'))).toEqual([['t2', 2, 't1']]);
    });
  });
}
