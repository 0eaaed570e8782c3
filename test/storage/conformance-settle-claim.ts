import { describe, expect, it } from 'vitest';
import type { FakeClock } from '../../src/domain/clock.js';
import type { Decision } from '../../src/domain/decide.js';
import type { NewMessage } from '../../src/domain/message.js';
import type { Claim, ClaimRequest, Store } from '../../src/storage/port.js';
import { useConformanceStore } from './conformance-fixture.js';

/**
 * Conformance cases of settleAndClaim: an answer and the next claim as one step, with the same
 * outcome as settle followed by claim (fencing, one in flight per lane, batches, blocked lanes).
 */
export function describeSettleAndClaimConformance(adapter: string, open: (clock: FakeClock) => Promise<Store>): void {
  describe(`storage conformance: ${adapter}: settle and claim`, () => {
    let clock: FakeClock;
    let store: Store;
    const LEASE = 30_000;
    useConformanceStore(open, (s, c) => {
      store = s;
      clock = c;
    });

    const msg = (id: string, key: string | null = null): NewMessage => ({ id, key, type: 'test.happened', data: '{}', metadata: {}, deliverAt: null });
    const request = (target: string, extra: Partial<ClaimRequest> = {}): ClaimRequest => ({ target, limit: 1, owner: 'o1', leaseMs: LEASE, ...extra });
    const ids = (claims: Claim[]) => claims.flatMap((c) => c.deliveries.map((d) => d.message.id));
    const attempt = (n: number) => ({ attempt: n, startedAt: clock.now(), durationMs: 1, statusCode: 200, error: null, response: 'ok' });
    const settlements = (claims: Claim[], decision: Decision = { kind: 'delivered' }) =>
      claims.flatMap((c) => c.deliveries.map((d) => ({ deliveryId: d.deliveryId, epoch: d.epoch, decision, attempt: attempt(d.attempt), result: 'ok' })));

    it('a fenced settlement changes nothing, keeps its attempt marked, and the claim leaves the lane to its new holder', async () => {
      await store.send('t', [msg('e1'), msg('e2')]);
      const old = await store.claim(request('t/a'));
      clock.advance(LEASE);
      const taken = await store.claim(request('t/a', { owner: 'o2' }));
      expect(ids(taken)).toEqual(['e1']);
      const step = await store.settleAndClaim(settlements(old), request('t/a'));
      expect(step).toEqual({ results: ['fenced'], claims: [] });
      const [view] = await store.getMessage('e1');
      expect(view!.deliveries[0]).toMatchObject({ status: 'delivering', attempts: 2 });
      expect(view!.deliveries[0]!.history.map((h) => h.fenced ?? false)).toEqual([true]);
      const next = await store.settleAndClaim(settlements(taken), request('t/a', { owner: 'o2' }));
      expect(next.results).toEqual(['ok']);
      expect(ids(next.claims)).toEqual(['e2']);
      expect(next.claims[0]!.deliveries[0]!.lanePosition).toEqual({ lane: '', position: 2, previousId: 'e1' });
    });

    it('a head that stalls blocks its lane and nothing more is claimed until it is retried', async () => {
      await store.send('t', [msg('e1'), msg('e2')]);
      const first = await store.claim(request('t/a'));
      const step = await store.settleAndClaim(settlements(first, { kind: 'stall', availableAt: clock.now() + 5_000, reason: 'HTTP 500' }), request('t/a'));
      expect(step).toEqual({ results: ['blocked'], claims: [] });
      expect((await store.getLane('t/a', ''))!.state).toBe('stalled');
      clock.advance(5_000);
      const again = await store.claim(request('t/a'));
      expect(ids(again)).toEqual(['e1']);
      const done = await store.settleAndClaim(settlements(again), request('t/a'));
      expect(ids(done.claims)).toEqual(['e2']);
      expect((await store.getLane('t/a', ''))!.state).toBe('active');
    });

    it('moves ordered batches on one after the other, and a short last batch waits for maxBatchWait', async () => {
      await store.send('t', Array.from({ length: 5 }, (_, i) => msg(`e${i + 1}`)));
      const batch = { batchSize: 2, maxBatchWaitMs: 1_000 };
      const first = await store.claim(request('t/a', batch));
      expect(ids(first)).toEqual(['e1', 'e2']);
      const second = await store.settleAndClaim(settlements(first), request('t/a', batch));
      expect(ids(second.claims)).toEqual(['e3', 'e4']);
      expect(second.claims[0]!.deliveries.map((d) => d.lanePosition?.position)).toEqual([3, 4]);
      const third = await store.settleAndClaim(settlements(second.claims), request('t/a', batch));
      expect(third).toEqual({ results: ['ok', 'ok'], claims: [] });
      clock.advance(1_000);
      expect(ids(await store.claim(request('t/a', batch)))).toEqual(['e5']);
    });

    it('on a fifo queue claims other keys too, never a key already in flight', async () => {
      await store.send('f', [msg('a1', 'a'), msg('b1', 'b'), msg('a2', 'a'), msg('c1', 'c')]);
      const a = await store.claim(request('f'));
      const b = await store.claim(request('f'));
      expect([ids(a), ids(b)]).toEqual([['a1'], ['b1']]);
      const step = await store.settleAndClaim(settlements(a), request('f', { limit: 10 }));
      expect(step.results).toEqual(['ok']);
      expect(ids(step.claims).sort()).toEqual(['a2', 'c1']);
      expect(await store.claim(request('f', { limit: 10 }))).toEqual([]);
      const end = await store.settleAndClaim([...settlements(b), ...settlements(step.claims)], request('f', { limit: 10 }));
      expect(end).toEqual({ results: ['ok', 'ok', 'ok'], claims: [] });
      expect((await store.stats()).find((s) => s.name === 'f')).toMatchObject({ depth: 0, inFlight: 0, delivered: 4 });
      expect(await store.getLane('f', 'a')).toBeNull();
    });

    it('a dead-lettered head moves its lane on like a delivered one; a retried next head is claimed when due', async () => {
      await store.send('f', [msg('a1', 'a'), msg('a2', 'a'), msg('a3', 'a')]);
      const first = await store.claim(request('f'));
      const second = await store.settleAndClaim(settlements(first, { kind: 'deadletter', reason: 'HTTP 400' }), request('f'));
      expect(second.results).toEqual(['ok']);
      expect(ids(second.claims)).toEqual(['a2']);
      await store.settle(settlements(second.claims, { kind: 'retry', availableAt: clock.now() + 2_000, reason: 'HTTP 503' }));
      expect(await store.claim(request('f'))).toEqual([]);
      clock.advance(2_000);
      const retried = await store.claim(request('f'));
      expect(retried[0]!.deliveries[0]).toMatchObject({ attempt: 2, message: { id: 'a2' } });
      const last = await store.settleAndClaim(settlements(retried), request('f'));
      expect(ids(last.claims)).toEqual(['a3']);
      expect((await store.listDeadLetters('f', { limit: 10 })).items.map((d) => d.message.id)).toEqual(['a1']);
    });

    it('a head redriven behind an in-flight delivery is claimed next by the step that settles it, then the lane goes on', async () => {
      await store.send('f', [msg('a1', 'a'), msg('a2', 'a'), msg('a3', 'a'), msg('a4', 'a')]);
      const first = await store.claim(request('f'));
      const second = await store.settleAndClaim(settlements(first), request('f'));
      const third = await store.settleAndClaim(settlements(second.claims, { kind: 'deadletter', reason: 'HTTP 400' }), request('f'));
      expect(ids(third.claims)).toEqual(['a3']);
      expect(await store.redrive('f', ['a2'])).toBe(1);
      const redriven = await store.settleAndClaim(settlements(third.claims), request('f'));
      expect(ids(redriven.claims)).toEqual(['a2']);
      const last = await store.settleAndClaim(settlements(redriven.claims), request('f'));
      expect(ids(last.claims)).toEqual(['a4']);
      const done = await store.settleAndClaim(settlements(last.claims), request('f'));
      expect(done).toEqual({ results: ['ok'], claims: [] });
      expect(await store.getLane('f', 'a')).toBeNull();
    });

    it('retry, stall and park of one ordered batch apply in order: the last leaves the lane, each says whether it blocked it', async () => {
      await store.send('t', Array.from({ length: 4 }, (_, i) => msg(`e${i + 1}`)));
      const [claim] = await store.claim(request('t/a', { batchSize: 3 }));
      const [d1, d2, d3] = claim!.deliveries;
      const settle = (d: typeof d1, decision: Decision) => ({ deliveryId: d!.deliveryId, epoch: d!.epoch, decision, attempt: attempt(d!.attempt), result: 'ok' });
      const results = await store.settle([
        settle(d1, { kind: 'retry', availableAt: clock.now() + 1_000, reason: 'HTTP 503' }),
        settle(d2, { kind: 'stall', availableAt: clock.now() + 5_000, reason: 'HTTP 500' }),
        { ...settle(d3, { kind: 'park', reason: 'HTTP 500' }), epoch: d3!.epoch + 1 },
      ]);
      expect(results).toEqual(['ok', 'blocked', 'fenced']);
      expect(await store.getLane('t/a', '')).toMatchObject({ state: 'stalled' });
      expect((await store.stats()).find((s) => s.name === 't/a')).toMatchObject({ depth: 4, inFlight: 1 });
      expect(await store.settle([settle(d3, { kind: 'stall', availableAt: clock.now() + 5_000, reason: 'HTTP 500' })])).toEqual(['ok']);
      expect(await store.settle([settle(d3, { kind: 'park', reason: 'HTTP 500' })])).toEqual(['fenced']);
      // A settlement fenced by another epoch is a call that happened: recorded, marked. The same
      // attempt settled again is no new call: nothing is recorded.
      const [e3] = await store.getMessage('e3');
      expect(e3!.deliveries[0]!.history.map((h) => h.fenced ?? false)).toEqual([true, false]);
      clock.advance(5_000);
      expect(ids(await store.claim(request('t/a', { batchSize: 3 })))).toEqual(['e1', 'e2', 'e3']);
    });

    it('one settled delivery: its lane\'s next head is claimed only as a plain claim would take it', async () => {
      // Not due yet: the lane waits for it.
      await store.send('f', [msg('a1', 'a'), { ...msg('a2', 'a'), deliverAt: clock.now() + 5_000 }]);
      expect(await store.settleAndClaim(settlements(await store.claim(request('f'))), request('f'))).toEqual({ results: ['ok'], claims: [] });
      clock.advance(5_000);
      expect(ids(await store.claim(request('f')))).toEqual(['a2']);
      // Claimed for another target: that target's head comes, the settled lane stays due.
      await store.send('t', [msg('e1'), msg('e2'), msg('e3')]);
      const other = await store.settleAndClaim(settlements(await store.claim(request('t/a'))), request('t/b'));
      expect(ids(other.claims)).toEqual(['e1']);
      expect(other.claims[0]!.target).toBe('t/b');
      // Batches of two: the next claim fills its batch.
      const batch = await store.settleAndClaim(settlements(other.claims), request('t/b', { batchSize: 2 }));
      expect(ids(batch.claims)).toEqual(['e2', 'e3']);
      // A dead-lettered head takes no position: the next one follows the last delivered.
      const second = await store.claim(request('t/a'));
      expect(second[0]!.deliveries[0]).toMatchObject({ message: { id: 'e2' }, lanePosition: { lane: '', position: 2, previousId: 'e1' } });
      const dead = await store.settleAndClaim(settlements(second, { kind: 'deadletter', reason: 'HTTP 400' }), request('t/a'));
      expect(dead.claims[0]!.deliveries[0]).toMatchObject({ message: { id: 'e3' }, lanePosition: { lane: '', position: 2, previousId: 'e1' } });
    });

    it('settles on a paused target but claims nothing from it', async () => {
      await store.send('t', [msg('e1'), msg('e2')]);
      const first = await store.claim(request('t/a'));
      await store.setPaused('t/a', true);
      expect(await store.settleAndClaim(settlements(first), request('t/a'))).toEqual({ results: ['ok'], claims: [] });
      await store.setPaused('t/a', false);
      expect(ids(await store.claim(request('t/a')))).toEqual(['e2']);
    });

    it('on a queue: settles every outcome, fences a stale one, and claims the due deliveries in priority order', async () => {
      await store.send('q', [msg('q1'), msg('q2'), msg('q3'), { ...msg('q4'), priority: 5 }, { ...msg('q5'), deliverAt: clock.now() + 60_000 }]);
      const first = await store.claim(request('q', { limit: 2 }));
      expect(ids(first)).toEqual(['q4', 'q1']);
      const [done, failed] = first;
      const step = await store.settleAndClaim(
        [...settlements([done!]), ...settlements([failed!], { kind: 'retry', availableAt: clock.now() + 1_000, reason: 'HTTP 503' })],
        request('q', { limit: 3 }),
      );
      expect(step.results).toEqual(['ok', 'ok']);
      expect(ids(step.claims)).toEqual(['q2', 'q3']); // q1 waits for its retry, q5 for its time
      // Settled again (a late duplicate of the same answer): fenced, nothing claimed with limit 0.
      expect(await store.settleAndClaim(settlements([done!]), request('q', { limit: 0 }))).toEqual({ results: ['fenced'], claims: [] });
      const dead = await store.settleAndClaim(settlements(step.claims.slice(0, 1), { kind: 'deadletter', reason: 'HTTP 400' }), request('q', { limit: 5 }));
      expect(dead).toEqual({ results: ['ok'], claims: [] });
      clock.advance(1_000);
      const retried = await store.settleAndClaim(settlements(step.claims.slice(1)), request('q', { limit: 5 }));
      expect(ids(retried.claims)).toEqual(['q1']);
      expect(retried.claims[0]!.deliveries[0]!.attempt).toBe(2);
      expect(await store.settleAndClaim(settlements(retried.claims), request('q', { limit: 5 }))).toEqual({ results: ['ok'], claims: [] });
      expect((await store.getMessage('q1'))[0]!.deliveries[0]).toMatchObject({ status: 'delivered', attempts: 2 });
      expect((await store.getMessage('q2'))[0]!.deliveries[0]).toMatchObject({ status: 'deadlettered' });
      expect((await store.stats()).find((t) => t.name === 'q')).toMatchObject({ depth: 1, inFlight: 0, delivered: 3, deadLettered: 1 });
    });

    it('claims, and looks ahead only when the claim came up short: the same answer as nextWakeAt after it', async () => {
      await store.send('q', [msg('q1'), msg('q2'), { ...msg('q3'), deliverAt: clock.now() + 5_000 }]);
      const full = await store.claimOrLookAhead(request('q', { limit: 1 }));
      expect(ids(full.claims)).toEqual(['q1']);
      expect(full).not.toHaveProperty('nextWakeAt');
      const short = await store.claimOrLookAhead(request('q', { limit: 5 }));
      expect(ids(short.claims)).toEqual(['q2']);
      expect(short.nextWakeAt).toBe(clock.now() + 5_000); // q3, before the leases expire
      expect(short.nextWakeAt).toBe(await store.nextWakeAt('q'));
      await store.settle(settlements([...full.claims, ...short.claims]));
      clock.advance(5_000);
      const last = await store.claimOrLookAhead(request('q', { limit: 5 }));
      expect(ids(last.claims)).toEqual(['q3']);
      expect(last.nextWakeAt).toBe(clock.now() + LEASE); // only its own lease is left
      await store.settle(settlements(last.claims));
      expect(await store.claimOrLookAhead(request('q', { limit: 5 }))).toEqual({ claims: [], nextWakeAt: null });
      // Ordered targets answer alike (a fifo key whose message is delayed is not due yet).
      await store.send('f', [msg('a1', 'a'), { ...msg('b1', 'b'), deliverAt: clock.now() + 2_000 }]);
      const lane = await store.claimOrLookAhead(request('f', { limit: 2 }));
      expect(ids(lane.claims)).toEqual(['a1']);
      expect(lane.nextWakeAt).toBe(await store.nextWakeAt('f'));
    });

    it('a step asked to look ahead answers nextWakeAt when its claim came up short, as claimOrLookAhead does', async () => {
      await store.send('q', [msg('q1'), msg('q2'), msg('q3'), { ...msg('q4'), deliverAt: clock.now() + 5_000 }]);
      const first = await store.claim(request('q', { limit: 2 }));
      // Not asked: no look-ahead, though the claim came up short.
      const plain = await store.settleAndClaim(settlements(first.slice(0, 1)), request('q', { limit: 5 }));
      expect(ids(plain.claims)).toEqual(['q3']);
      expect(plain).not.toHaveProperty('nextWakeAt');
      // Asked, and the claim filled its limit: none either.
      await store.send('q', [msg('q5')]);
      const full = await store.settleAndClaim(settlements(first.slice(1)), request('q', { limit: 1, lookAhead: true }));
      expect(ids(full.claims)).toEqual(['q5']);
      expect(full).not.toHaveProperty('nextWakeAt');
      // Asked, and short: q4 is due before any lease runs out.
      const short = await store.settleAndClaim(settlements([...plain.claims, ...full.claims]), request('q', { limit: 5, lookAhead: true }));
      expect(short).toEqual({ results: ['ok', 'ok'], claims: [], nextWakeAt: clock.now() + 5_000 });
      expect(short.nextWakeAt).toBe(await store.nextWakeAt('q'));
      // A step that claims nothing at all (limit 0) looks at nothing.
      clock.advance(5_000);
      const last = await store.claim(request('q'));
      expect(await store.settleAndClaim(settlements(last), request('q', { limit: 0, lookAhead: true }))).toEqual({ results: ['ok'], claims: [] });
      // Ordered targets answer alike: the fifo key after a1 is not due yet.
      await store.send('f', [msg('a1', 'a'), { ...msg('a2', 'a'), deliverAt: clock.now() + 2_000 }]);
      const lane = await store.claim(request('f'));
      const next = await store.settleAndClaim(settlements(lane), request('f', { limit: 2, lookAhead: true }));
      expect(next).toEqual({ results: ['ok'], claims: [], nextWakeAt: clock.now() + 2_000 });
    });

    it('a send to a queue claims what its hand-off offers in its own transaction, and wakes nobody for it', async () => {
      const statusOf = async (id: string) => (await store.getMessage(id))[0]!.deliveries[0]!.status;
      const taken: Array<{ target: string; ids: string[]; nextWakeAt?: number | null }> = [];
      let slots = 2;
      const offers: string[] = [];
      store.handOffSends({
        offer: (target) => {
          offers.push(target);
          if (slots <= 0) return null;
          return { owner: 'o1', leaseMs: LEASE, limit: slots, taken: (claims, nextWakeAt) => void taken.push({ target, ids: ids(claims), ...(nextWakeAt !== undefined ? { nextWakeAt } : {}) }) };
        },
      });
      const woken: string[] = [];
      store.onWake((targets) => woken.push(...targets));
      // Highest priority first, as a claim takes them; what is not due yet stays, and is looked ahead to.
      await store.send('q', [msg('q1'), { ...msg('q2'), priority: 5 }, msg('q3'), { ...msg('q4'), deliverAt: clock.now() + 5_000 }]);
      expect(taken).toEqual([{ target: 'q', ids: ['q2', 'q1'] }]);
      expect(woken).toEqual([]);
      const [q2] = await store.getMessage('q2');
      expect(q2!.deliveries[0]).toMatchObject({ status: 'delivering', attempts: 1 });
      expect((await store.stats()).find((t) => t.name === 'q')).toMatchObject({ depth: 4, inFlight: 2 });
      // What the send claimed is leased like any claim: settled by its epoch, fenced by a later one.
      const claimed = await store.claim(request('q', { limit: 10 }));
      expect(ids(claimed)).toEqual(['q3']);
      await store.settle(settlements(claimed));
      slots = 3;
      await store.send('q', [msg('q5')]);
      expect(taken[1]).toEqual({ target: 'q', ids: ['q5'], nextWakeAt: clock.now() + 5_000 });
      // Paused: the send stores, claims nothing, and still looks ahead.
      await store.setPaused('q', true);
      await store.send('q', [msg('q6')]);
      expect(taken[2]!.ids).toEqual([]);
      expect(await statusOf('q6')).toBe('queued');
      await store.setPaused('q', false);
      // A fifo queue and a topic are never offered; a queue the hand-off declines is woken as before.
      await store.send('f', [msg('a1', 'a')]);
      await store.send('t', [msg('e1')]);
      slots = 0;
      await store.send('q', [msg('q7')]);
      expect(offers).toEqual(['q', 'q', 'q', 'q']);
      expect(woken).toEqual(expect.arrayContaining(['f', 't/a', 'q']));
      expect(taken).toHaveLength(3);
      expect(await statusOf('q7')).toBe('queued');
    });

    it('looks ahead to the earliest due time, whatever the order of sending, priority and lanes, past expired messages', async () => {
      // Sent later, due sooner; the queue's in three priorities, the fifo's in lanes whose heads come due before later messages.
      const start = clock.now();
      const at = (n: number) => start + 10_000 - n * 100;
      await store.send('q', Array.from({ length: 30 }, (_, n) => ({ ...msg(`q${n}`), deliverAt: at(n), priority: n % 3 })));
      await store.send('q', [{ ...msg('gone'), deliverAt: at(40), expiresAt: at(40) }]); // expired by the time it is due
      await store.send('f', Array.from({ length: 30 }, (_, n) => ({ ...msg(`f${n}`, `k${n % 5}`), deliverAt: at(n) })));
      clock.advance(at(40) - clock.now());
      for (const [target, earliest] of [['q', at(29)], ['f', at(4)]] as const) {
        expect(await store.nextWakeAt(target)).toBe(earliest);
        expect(await store.claimOrLookAhead(request(target, { limit: 3 }))).toEqual({ claims: [], nextWakeAt: earliest });
      }
    });

    it('on a paused queue: settles, claims nothing', async () => {
      await store.send('q', [msg('q1'), msg('q2')]);
      const first = await store.claim(request('q'));
      await store.setPaused('q', true);
      expect(await store.settleAndClaim(settlements(first), request('q'))).toEqual({ results: ['ok'], claims: [] });
      await store.setPaused('q', false);
      expect(ids(await store.claim(request('q')))).toEqual(['q2']);
    });

    it('steps, settlements and claims issued at once each get their own answer, as if made one after the other', async () => {
      await store.send('t', [msg('e1', 'k'), msg('e2', 'k')]);
      await store.send('q', [msg('q1'), msg('q2'), msg('q3')]);
      const [a, b, q] = await Promise.all([store.claim(request('t/a')), store.claim(request('t/b')), store.claim(request('q', { limit: 2 }))]);
      expect([ids(a), ids(b), ids(q)]).toEqual([['e1'], ['e1'], ['q1', 'q2']]);
      const [stepA, stepB, settled, more] = await Promise.all([
        store.settleAndClaim(settlements(a), request('t/a')),
        store.settleAndClaim(settlements(b, { kind: 'retry', availableAt: clock.now() + 1_000, reason: 'HTTP 503' }), request('t/b')),
        store.settle(settlements(q)),
        store.claim(request('q', { limit: 5 })),
      ]);
      expect(stepA.results).toEqual(['ok']);
      expect(ids(stepA.claims)).toEqual(['e2']);
      expect(stepB).toEqual({ results: ['ok'], claims: [] });
      expect(settled).toEqual(['ok', 'ok']);
      expect(ids(more)).toEqual(['q3']);
      expect(await store.settle(settlements(q))).toEqual(['fenced', 'fenced']);
      const stats = new Map((await store.stats()).map((s) => [s.name, s]));
      expect(stats.get('q')).toMatchObject({ depth: 1, inFlight: 1, delivered: 2 });
      expect(stats.get('t/a')).toMatchObject({ depth: 1, inFlight: 1, delivered: 1 });
      expect(stats.get('t/b')).toMatchObject({ depth: 2, inFlight: 0, delivered: 0 });
    });
  });
}
