import { describe, expect, it } from 'vitest';
import type { FakeClock } from '../../src/domain/clock.js';
import type { Decision } from '../../src/domain/decide.js';
import type { NewMessage } from '../../src/domain/message.js';
import type { Claim, Store } from '../../src/storage/port.js';
import { useConformanceStore } from './conformance-fixture.js';

/**
 * Conformance cases of seek (src/domain/seek.ts) and of what topics keep: replay, skip ahead,
 * seek by time, refusal past retention, fencing of deliveries in flight, every lane of a
 * key-ordered subscription, and a topic's own retention in the sweep.
 */
export function describeSeekConformance(adapter: string, open: (clock: FakeClock) => Promise<Store>): void {
  describe(`storage conformance: ${adapter}: seek and topic retention`, () => {
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
    const seen = (claims: Claim[]) => claims.flatMap((c) => c.deliveries.map((d) => [d.message.id, d.lanePosition?.position, d.lanePosition?.previousId]));
    /** Delivers everything of a target, one claim round at a time; returns what was seen, in order. */
    async function deliverAll(target: string, batchSize = 1): Promise<unknown[][]> {
      const all: unknown[][] = [];
      for (let claims = await claim(target, batchSize); claims.length > 0; claims = await claim(target, batchSize)) {
        all.push(...seen(claims));
        await settle(claims);
      }
      return all;
    }
    const statsOf = async (name: string) => (await store.stats()).find((s) => s.name === name)!;

    it('replays backward: delivered events come again in order, with the lane positions they had', async () => {
      await store.send('t', ['e1', 'e2', 'e3', 'e4', 'e5'].map((id) => msg(id)));
      expect(await deliverAll('t/a', 2)).toHaveLength(5);
      expect(await store.seek('t/a', { sequence: 2 })).toEqual({ sequence: 2, replayed: 4, skipped: 0, fenced: 0 });
      expect(await statsOf('t/a')).toMatchObject({ depth: 4, inFlight: 0, skipped: 0, lastSequence: 1 });
      expect(await deliverAll('t/a', 2)).toEqual([['e2', 2, 'e1'], ['e3', 3, 'e2'], ['e4', 4, 'e3'], ['e5', 5, 'e4']]);
      await store.send('t', [msg('e6')]);
      expect(await deliverAll('t/a')).toEqual([['e6', 6, 'e5']]);
      // Back to the start: the first event has no previous.
      await store.seek('t/a', { sequence: 1 });
      expect((await deliverAll('t/a', 10))[0]).toEqual(['e1', 1, null]);
      expect((await store.getMessage('e1'))[0]!.deliveries.find((d) => d.target === 't/a')).toMatchObject({ status: 'delivered', attempts: 1 });
    });

    it('skips ahead: undelivered events before the point are kept as skipped, and lanes stay gap-free', async () => {
      await store.send('t', ['e1', 'e2', 'e3', 'e4', 'e5'].map((id) => msg(id)));
      await settle(await claim('t/a'));
      expect(await store.seek('t/a', { sequence: 4 })).toEqual({ sequence: 4, replayed: 0, skipped: 2, fenced: 0 });
      const skipped = await store.listSkipped('t/a', { limit: 10 });
      expect(skipped.items.map((d) => [d.message.id, d.status])).toEqual([['e2', 'skipped'], ['e3', 'skipped']]);
      expect(await statsOf('t/a')).toMatchObject({ depth: 2, skipped: 2 });
      expect(await deliverAll('t/a')).toEqual([['e4', 2, 'e1'], ['e5', 3, 'e4']]);
      // Past the last event: nothing is left; the next publish is delivered.
      expect(await store.seek('t/a', { sequence: 6 })).toMatchObject({ sequence: 6, replayed: 0, skipped: 0 });
      await store.send('t', [msg('e6')]);
      expect(await deliverAll('t/a')).toEqual([['e6', 4, 'e5']]);
      // A backward replay brings the skipped events back too: positions count the lane's deliveries again.
      expect(await store.seek('t/a', { sequence: 1 })).toEqual({ sequence: 1, replayed: 6, skipped: 0, fenced: 0 });
      expect(await deliverAll('t/a', 10)).toEqual([['e1', 1, null], ['e2', 2, 'e1'], ['e3', 3, 'e2'], ['e4', 4, 'e3'], ['e5', 5, 'e4'], ['e6', 6, 'e5']]);
    });

    it('a seek back undoes a seek forward: every kept event from the point comes again, in order; those before stay skipped', async () => {
      const counts = async () => {
        const s = await statsOf('t/a');
        return [s.depth, s.skipped];
      };
      const skippedIds = async () => (await store.listSkipped('t/a', { limit: 10 })).items.map((d) => d.message.id);
      await store.send('t', ['e1', 'e2', 'e3', 'e4', 'e5', 'e6'].map((id) => msg(id)));
      await settle(await claim('t/a', 2));
      expect(await store.seek('t/a', { sequence: 5 })).toEqual({ sequence: 5, replayed: 0, skipped: 2, fenced: 0 });
      expect(await counts()).toEqual([2, 2]);
      expect(await deliverAll('t/a')).toEqual([['e5', 3, 'e2'], ['e6', 4, 'e5']]);
      expect(await counts()).toEqual([0, 2]);
      // Back to 6: e6 comes again, nothing else moves.
      expect(await store.seek('t/a', { sequence: 6 })).toEqual({ sequence: 6, replayed: 1, skipped: 0, fenced: 0 });
      expect(await counts()).toEqual([1, 2]);
      expect(await deliverAll('t/a')).toEqual([['e6', 4, 'e5']]);
      expect(await counts()).toEqual([0, 2]);
      // Back to 4: e4 (skipped) comes back, e5 and e6 (delivered) come again; e3, before the point, stays skipped.
      expect(await store.seek('t/a', { sequence: 4 })).toEqual({ sequence: 4, replayed: 3, skipped: 0, fenced: 0 });
      expect(await counts()).toEqual([3, 1]);
      expect(await skippedIds()).toEqual(['e3']);
      expect(await deliverAll('t/a')).toEqual([['e4', 3, 'e2'], ['e5', 4, 'e4'], ['e6', 5, 'e5']]);
      expect(await counts()).toEqual([0, 1]);
      // Back to the start: everything, in order, gap-free from position 1.
      expect(await store.seek('t/a', { sequence: 1 })).toEqual({ sequence: 1, replayed: 6, skipped: 0, fenced: 0 });
      expect(await counts()).toEqual([6, 0]);
      expect(await skippedIds()).toEqual([]);
      expect(await deliverAll('t/a', 4)).toEqual([['e1', 1, null], ['e2', 2, 'e1'], ['e3', 3, 'e2'], ['e4', 4, 'e3'], ['e5', 5, 'e4'], ['e6', 6, 'e5']]);
      expect(await counts()).toEqual([0, 0]);
      expect((await store.getMessage('e3'))[0]!.deliveries.find((d) => d.target === 't/a')).toMatchObject({ status: 'delivered', attempts: 1 });
    });

    it('a seek back brings an operator-skipped event at or after the point back, in every lane of a key-ordered subscription', async () => {
      const counts = async () => {
        const s = await statsOf('t/b');
        return [s.depth, s.skipped];
      };
      const skippedIds = async () => (await store.listSkipped('t/b', { limit: 10 })).items.map((d) => d.message.id);
      // Sequences 1..6: a1 b1 a2 b2 a3 c1.
      await store.send('t', [msg('a1', 'a'), msg('b1', 'b'), msg('a2', 'a'), msg('b2', 'b'), msg('a3', 'a'), msg('c1', 'c')]);
      const heads = await claim('t/b');
      expect(seen(heads).map((e) => e[0]).sort()).toEqual(['a1', 'b1', 'c1']);
      await settle(heads.filter((c) => c.lane !== 'b'));
      await settle(heads.filter((c) => c.lane === 'b'), { kind: 'stall', availableAt: clock.now() + 60_000, reason: 'HTTP 500' });
      expect(await store.skipLaneHead('t/b', 'b')).toMatchObject({ status: 'skipped' });
      expect(await counts()).toEqual([3, 1]);
      // Forward to a3: a2 and b2 are skipped; c1 (sequence 6) comes again.
      expect(await store.seek('t/b', { sequence: 5 })).toEqual({ sequence: 5, replayed: 1, skipped: 2, fenced: 0 });
      expect(await counts()).toEqual([2, 3]);
      expect((await deliverAll('t/b')).sort()).toEqual([['a3', 2, 'a1'], ['c1', 1, null]]);
      // Back to a2: a2 and b2 come back, a3 and c1 come again; b1, before the point, stays skipped.
      expect(await store.seek('t/b', { sequence: 3 })).toEqual({ sequence: 3, replayed: 4, skipped: 0, fenced: 0 });
      expect(await counts()).toEqual([4, 1]);
      expect(await skippedIds()).toEqual(['b1']);
      const first = await claim('t/b');
      expect(seen(first).sort()).toEqual([['a2', 2, 'a1'], ['b2', 1, null], ['c1', 1, null]]);
      await settle(first);
      expect(await deliverAll('t/b')).toEqual([['a3', 3, 'a2']]);
      expect(await counts()).toEqual([0, 1]);
      // Back to the start: the operator-skipped b1 comes back ahead of b2 (and could stall its lane again).
      expect(await store.seek('t/b', { sequence: 1 })).toEqual({ sequence: 1, replayed: 6, skipped: 0, fenced: 0 });
      expect(await counts()).toEqual([6, 0]);
      const lanes = new Map<unknown, unknown[][]>();
      for (const e of await deliverAll('t/b', 10)) lanes.set(String(e[0]).charAt(0), [...(lanes.get(String(e[0]).charAt(0)) ?? []), e]);
      expect(Object.fromEntries(lanes)).toEqual({
        a: [['a1', 1, null], ['a2', 2, 'a1'], ['a3', 3, 'a2']],
        b: [['b1', 1, null], ['b2', 2, 'b1']],
        c: [['c1', 1, null]],
      });
      expect(await counts()).toEqual([0, 0]);
    });

    it('seeks by time to the first event published at or after it', async () => {
      const start = clock.now();
      await store.send('t', [msg('e1'), msg('e2')]);
      clock.advance(1_000);
      await store.send('t', [msg('e3'), msg('e4')]);
      await deliverAll('t/a');
      expect(await store.seek('t/a', { time: start + 500 })).toMatchObject({ sequence: 3, replayed: 2 });
      expect((await deliverAll('t/a')).map((e) => e[0])).toEqual(['e3', 'e4']);
      expect(await store.seek('t/a', { time: start })).toMatchObject({ sequence: 1, replayed: 4 });
      // After the newest event: like seeking past the last sequence.
      expect(await store.seek('t/a', { time: clock.now() + 1 })).toEqual({ sequence: 5, replayed: 0, skipped: 4, fenced: 0 });
      expect(await claim('t/a')).toEqual([]);
    });

    it('refuses a point older than what the topic keeps, or not yet published; a topic retention keeps its events', async () => {
      const start = clock.now();
      await store.send('t', [msg('e1'), msg('e2')]);
      await deliverAll('t/a');
      await deliverAll('t/b');
      clock.advance(60_000);
      // The topic keeps its events for its own retention although the global cutoff passed them.
      expect(await store.sweep(clock.now(), { t: clock.now() - 120_000 })).toBe(0);
      expect(await store.seek('t/a', { sequence: 1 })).toMatchObject({ replayed: 2 });
      await deliverAll('t/a');
      // A subscription starting from the beginning gets what the topic kept.
      await store.declare([{ name: 't/new', kind: 'subscription', topic: 't', ordering: 'topic', startFrom: 'beginning' }]);
      expect((await deliverAll('t/new')).map((e) => e[0])).toEqual(['e1', 'e2']);
      expect((await statsOf('t')).keptFrom).toBe(1);
      expect(await store.sweep(clock.now(), { t: clock.now() - 30_000 })).toBe(2);
      expect((await statsOf('t')).keptFrom).toBe(3);
      await store.send('t', [msg('e3')]);
      await expect(store.seek('t/a', { sequence: 1 })).rejects.toMatchObject({ code: 'conflict', message: expect.stringContaining('seek to 3 or later') });
      await expect(store.seek('t/a', { sequence: 2 })).rejects.toMatchObject({ code: 'conflict' });
      await expect(store.seek('t/a', { time: start })).rejects.toMatchObject({ code: 'conflict', message: expect.stringContaining('older than what the topic keeps') });
      await expect(store.seek('t/a', { sequence: 5 })).rejects.toMatchObject({ code: 'conflict', message: expect.stringContaining('seek to 4') });
      await expect(store.seek('t', { sequence: 1 })).rejects.toMatchObject({ code: 'invalid_request' });
      await expect(store.seek('t/nope', { sequence: 1 })).rejects.toMatchObject({ code: 'not_found' });
      expect(await store.seek('t/a', { sequence: 3 })).toMatchObject({ sequence: 3 });
      expect(await store.seek('t/a', { time: start + 60_000 })).toMatchObject({ sequence: 3 });
      expect((await deliverAll('t/a')).map((e) => e[0])).toEqual(['e3']);
    });

    it('fences a delivery in flight: its settlement changes nothing and its lane waits out the lease', async () => {
      await store.send('t', [msg('e1'), msg('e2')]);
      await settle(await claim('t/a'));
      const held = await claim('t/a');
      expect(seen(held)).toEqual([['e2', 2, 'e1']]);
      expect(await store.seek('t/a', { sequence: 1 })).toEqual({ sequence: 1, replayed: 1, skipped: 0, fenced: 1 });
      expect(await settle(held)).toEqual(['fenced']);
      expect(await store.renew(held[0]!.deliveries.map((d) => ({ deliveryId: d.deliveryId, epoch: d.epoch })), LEASE)).toEqual([held[0]!.deliveries[0]!.deliveryId]);
      expect(await statsOf('t/a')).toMatchObject({ depth: 2, inFlight: 0 });
      // One call per lane: nothing is claimed while the fenced call's lease may still run.
      expect(await claim('t/a')).toEqual([]);
      clock.advance(LEASE + 1);
      const replay = await claim('t/a', 10);
      expect(replay[0]!.deliveries.map((d) => [d.message.id, d.attempt, d.lanePosition?.position])).toEqual([['e1', 1, 1], ['e2', 1, 2]]);
      expect(await settle(replay)).toEqual(['ok', 'ok']);
      expect(await statsOf('t/a')).toMatchObject({ depth: 0, inFlight: 0 });
    });

    it('fences an asynchronously acknowledged call: its lane waits until the call\'s deadline, and the deferral is over', async () => {
      await store.send('t', [msg('e1')]);
      const held = await claim('t/a');
      const lease = held[0]!.deliveries.map((d) => ({ deliveryId: d.deliveryId, epoch: d.epoch }));
      const hold = clock.now() + 10 * LEASE;
      expect(await store.defer(lease, hold - LEASE, hold)).toEqual([true]);
      expect(await store.seek('t/a', { sequence: 1 })).toMatchObject({ fenced: 1 });
      clock.advance(2 * LEASE);
      expect(await claim('t/a')).toEqual([]);
      expect(await store.expireDeferred({ target: 't/a', owner: 'o2', leaseMs: LEASE, limit: 10 })).toEqual([]);
      clock.set(hold + 1);
      expect(seen(await claim('t/a'))).toEqual([['e1', 1, null]]);
    });

    it('moves every lane of a key-ordered subscription and clears their stalls', async () => {
      await store.send('t', [msg('a1', 'a'), msg('b1', 'b'), msg('a2', 'a'), msg('b2', 'b'), msg('a3', 'a')]);
      await settle(await claim('t/b')); // a1, b1
      const second = await claim('t/b'); // a2 is delivered; b2 stalls
      await settle(second.filter((c) => c.lane === 'a'));
      await settle(second.filter((c) => c.lane === 'b'), { kind: 'stall', availableAt: clock.now() + 60_000, reason: 'HTTP 500' });
      expect((await store.getLane('t/b', 'b'))?.state).toBe('stalled');
      // Sequence 2 is b1: lane a replays a2 and a3 is pending; lane b replays b1 then b2.
      expect(await store.seek('t/b', { sequence: 2 })).toMatchObject({ sequence: 2, replayed: 2, skipped: 0 });
      expect((await store.getLane('t/b', 'b'))).toMatchObject({ state: 'active', reason: null });
      const first = await claim('t/b');
      expect(seen(first).sort()).toEqual([['a2', 2, 'a1'], ['b1', 1, null]]);
      await settle(first);
      const next = await claim('t/b');
      expect(next.flatMap((c) => c.deliveries.map((d) => [d.message.id, d.attempt, d.lanePosition?.position])).sort()).toEqual([['a3', 1, 3], ['b2', 1, 2]]);
      await settle(next);
      expect(await claim('t/b')).toEqual([]);
      // Forward on every lane at once: undelivered events before the point are skipped in each.
      await store.send('t', [msg('a4', 'a'), msg('b3', 'b'), msg('c1', 'c'), msg('a5', 'a')]);
      expect(await store.seek('t/b', { sequence: 9 })).toMatchObject({ sequence: 9, skipped: 3 });
      expect(seen(await claim('t/b'))).toEqual([['a5', 4, 'a3']]);
    });

    it('replays only the events that pass the subscription\'s current filter', async () => {
      const filtered = (types: string[]) => store.declare([{ name: 't/f', kind: 'subscription', topic: 't', ordering: 'topic', filter: { types } }]);
      await filtered(['Order*']);
      const event = (id: string, type: string): NewMessage => ({ ...msg(id), type });
      await store.send('t', [event('o1', 'OrderPlaced'), event('x1', 'Other'), event('o2', 'OrderShipped')]);
      expect(await deliverAll('t/f')).toEqual([['o1', 1, null], ['o2', 2, 'o1']]);
      // Narrowed: o1 no longer passes and stays delivered; positions go on from where the lane was.
      await filtered(['OrderShipped']);
      expect(await store.seek('t/f', { sequence: 1 })).toMatchObject({ replayed: 1 });
      expect(await deliverAll('t/f')).toEqual([['o2', 2, null]]);
      // Widened: x1, never delivered to this subscription, now passes and is delivered from the point on.
      await filtered(['*']);
      expect(await store.seek('t/f', { sequence: 1 })).toMatchObject({ replayed: 3 });
      expect((await deliverAll('t/f')).map((e) => e[0])).toEqual(['o1', 'x1', 'o2']);
    });

    it('gives a later subscription the kept events it never had, from the point on', async () => {
      await store.send('t', [msg('e1', 'k'), msg('e2', 'k')]);
      await store.declare([{ name: 't/late', kind: 'subscription', topic: 't', ordering: 'key', startFrom: 'latest' }]);
      await store.send('t', [msg('e3', 'k')]);
      expect(await deliverAll('t/late')).toEqual([['e3', 1, null]]);
      expect(await store.seek('t/late', { sequence: 2 })).toMatchObject({ replayed: 2 });
      expect(await deliverAll('t/late')).toEqual([['e2', 1, null], ['e3', 2, 'e2']]);
    });
  });
}
