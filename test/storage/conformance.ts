import { describe, expect, it } from 'vitest';
import type { FakeClock } from '../../src/domain/clock.js';
import type { Decision } from '../../src/domain/decide.js';
import type { NewMessage } from '../../src/domain/message.js';
import type { Claim, Store } from '../../src/storage/port.js';
import { describeAgreementConformance, type ConformanceHarness } from './conformance-agreement.js';
import { describeDrainConformance } from './conformance-drain.js';
import { describeTransitionConformance } from './conformance-transitions.js';
import { describeDeferredConformance } from './conformance-deferred.js';
import { describeLanePositionConformance } from './conformance-lanes.js';
import { describeLaneBatchConformance } from './conformance-lane-batches.js';
import { describeFilterConformance } from './conformance-filters.js';
import { describeFifoDelayConformance } from './conformance-fifo-delay.js';
import { describePriorityConformance } from './conformance-priority.js';
import { describeSettleAndClaimConformance } from './conformance-settle-claim.js';
import { describeSeekConformance } from './conformance-seek.js';
import { messageSearchCases } from './conformance-search.js';
import { CONFORMANCE_CHANNELS, useConformanceStore } from './conformance-fixture.js';

/**
 * The storage conformance suite: every adapter must pass it unchanged. `open` creates a fresh,
 * empty store (its own database file or schema) driven by the given fake clock.
 */
export function describeStoreConformance(adapter: string, open: (clock: FakeClock) => Promise<Store>, harness: ConformanceHarness): void {
  describeDrainConformance(adapter, open);
  describeTransitionConformance(adapter, open);
  describeLanePositionConformance(adapter, open);
  describeLaneBatchConformance(adapter, open);
  describeDeferredConformance(adapter, open);
  describeSettleAndClaimConformance(adapter, open);
  describeSeekConformance(adapter, open);
  describeAgreementConformance(adapter, harness);
  describeFilterConformance(adapter, harness);
  describeFifoDelayConformance(adapter, open);
  describePriorityConformance(adapter, harness);
  describe(`storage conformance: ${adapter}`, () => {
    let clock: FakeClock;
    let store: Store;
    const LEASE = 30_000;

    const channels = CONFORMANCE_CHANNELS;
    useConformanceStore(open, (s, c) => {
      store = s;
      clock = c;
    });

    describe('message search', () => messageSearchCases(() => ({ store, clock })));

    const msg = (id: string, extra: Partial<NewMessage> = {}): NewMessage => ({
      id, key: null, type: 'test.happened', data: JSON.stringify({ id }), metadata: { tenantId: 't1' }, deliverAt: null, ...extra,
    });
    const claim = (target: string, limit = 10, batchSize = 1, owner = 'o1') => store.claim({ target, limit, owner, leaseMs: LEASE, batchSize });
    const ids = (claims: Claim[]) => claims.flatMap((c) => c.deliveries.map((d) => d.message.id));
    const attempt = (n = 1) => ({ attempt: n, startedAt: clock.now(), durationMs: 5, statusCode: 200, error: null, response: 'ok' });
    const settle = (claims: Claim[], decision: Decision = { kind: 'delivered' }) =>
      store.settle(claims.flatMap((c) => c.deliveries.map((d) => ({ deliveryId: d.deliveryId, epoch: d.epoch, decision, attempt: attempt(d.attempt), result: 'ok' }))));

    it('stores, claims and settles a queue message, keeping the attempt', async () => {
      const [sent] = await store.send('q', [msg('m1')]);
      expect(sent).toEqual({ id: 'm1', status: 'queued', duplicate: false });
      const claims = await claim('q');
      expect(ids(claims)).toEqual(['m1']);
      const d = claims[0]!.deliveries[0]!;
      expect(d.attempt).toBe(1);
      expect(d.message).toMatchObject({ id: 'm1', channel: 'q', type: 'test.happened', data: '{"id":"m1"}', metadata: { tenantId: 't1' } });
      expect(await settle(claims)).toEqual(['ok']);
      const [view] = await store.getMessage('m1');
      expect(view!.deliveries[0]).toMatchObject({ target: 'q', status: 'delivered', attempts: 1, result: 'ok' });
      expect(view!.deliveries[0]!.history).toHaveLength(1);
      expect(await claim('q')).toEqual([]);
    });

    it('deduplicates on message id per channel and reports the original status', async () => {
      await store.send('q', [msg('m1')]);
      const [again] = await store.send('q', [msg('m1', { data: '{"changed":true}' })]);
      expect(again).toMatchObject({ id: 'm1', duplicate: true, status: 'queued' });
      const claims = await claim('q');
      expect(claims).toHaveLength(1);
      expect(claims[0]!.deliveries[0]!.message.data).toBe('{"id":"m1"}');
      const [other] = await store.send('f', [msg('m1', { key: 'k' })]);
      expect(other!.duplicate).toBe(false);
    });

    it('answers concurrent sends in order, each durable', async () => {
      const results = await Promise.all(Array.from({ length: 50 }, (_, i) => store.send('q', [msg(`c${i}`), msg(`d${i}`)])));
      expect(results.flat().map((r) => r.id)).toEqual(Array.from({ length: 50 }, (_, i) => [`c${i}`, `d${i}`]).flat());
      expect(ids(await claim('q', 1000))).toHaveLength(100);
    });

    it('rejects unknown channels', async () => {
      await expect(store.send('nope', [msg('x')])).rejects.toMatchObject({ code: 'not_found' });
      await expect(claim('nope')).rejects.toMatchObject({ code: 'not_found' });
    });

    it('holds a lease until it expires, then redelivers with the next attempt and fences the old holder', async () => {
      await store.send('q', [msg('m1')]);
      const first = await claim('q', 10, 1, 'a');
      expect(await claim('q', 10, 1, 'b')).toEqual([]);
      clock.advance(LEASE + 1);
      const second = await claim('q', 10, 1, 'b');
      expect(second[0]!.deliveries[0]!.attempt).toBe(2);
      expect(await settle(first)).toEqual(['fenced']);
      expect(await store.renew([{ deliveryId: first[0]!.deliveries[0]!.deliveryId, epoch: first[0]!.deliveries[0]!.epoch }], LEASE)).toHaveLength(1);
      expect(await settle(second)).toEqual(['ok']);
    });

    it('renews a lease so it does not expire while the call is in flight', async () => {
      await store.send('q', [msg('m1')]);
      const claims = await claim('q');
      const d = claims[0]!.deliveries[0]!;
      clock.advance(LEASE - 1_000);
      expect(await store.renew([{ deliveryId: d.deliveryId, epoch: d.epoch }], LEASE)).toEqual([]);
      clock.advance(LEASE - 1_000);
      expect(await claim('q', 10, 1, 'other')).toEqual([]);
      expect(await settle(claims)).toEqual(['ok']);
    });

    it('retries not before the decided time', async () => {
      await store.send('q', [msg('m1')]);
      await settle(await claim('q'), { kind: 'retry', availableAt: clock.now() + 5_000, reason: 'HTTP 500' });
      expect((await store.getMessage('m1'))[0]!.deliveries[0]!.status).toBe('retrying');
      expect(await store.nextWakeAt('q')).toBe(clock.now() + 5_000);
      clock.advance(4_999);
      expect(await claim('q')).toEqual([]);
      clock.advance(1);
      const again = await claim('q');
      expect(again[0]!.deliveries[0]!.attempt).toBe(2);
    });

    it('releases untried deliveries without counting the attempt', async () => {
      await store.send('q', [msg('m1')]);
      const claims = await claim('q');
      await store.release(claims.flatMap((c) => c.deliveries));
      const again = await claim('q');
      expect(again[0]!.deliveries[0]!.attempt).toBe(1);
    });

    it('ignores the release of a lease taken over: the new holder keeps its lease, its attempt and its lane', async () => {
      for (const target of ['q', 'f']) {
        await store.send(target, [msg(`${target}-m1`, { key: target === 'f' ? 'k' : null })]);
        const first = await claim(target, 10, 1, 'a');
        clock.advance(LEASE + 1);
        const second = await claim(target, 10, 1, 'b');
        expect(second[0]!.deliveries[0]!.attempt).toBe(2);
        await store.release(first.flatMap((c) => c.deliveries));
        expect(await claim(target, 10, 1, 'c')).toEqual([]);
        expect((await store.getMessage(`${target}-m1`))[0]!.deliveries[0]!.status).toBe('delivering');
        expect(await store.renew(second.flatMap((c) => c.deliveries), LEASE)).toEqual([]);
        expect(await settle(second)).toEqual(['ok']);
      }
    });

    it('delays a message until deliverAt', async () => {
      const [sent] = await store.send('q', [msg('m1', { deliverAt: clock.now() + 60_000 })]);
      expect(sent!.status).toBe('scheduled');
      expect(await claim('q')).toEqual([]);
      clock.advance(60_000);
      expect(ids(await claim('q'))).toEqual(['m1']);
    });

    it('dead-letters with reason and history, redrives with a fresh budget, and purges', async () => {
      await store.send('q', [msg('m1'), msg('m2'), msg('m3')]);
      await settle(await claim('q'), { kind: 'deadletter', reason: 'permanent failure: HTTP 400' });
      const page = await store.listDeadLetters('q', { limit: 2 });
      expect(page.items.map((d) => d.message.id)).toEqual(['m1', 'm2']);
      expect(page.items[0]).toMatchObject({ status: 'deadlettered', lastError: 'permanent failure: HTTP 400', attempts: 1 });
      expect(page.items[0]!.history).toHaveLength(1);
      const rest = await store.listDeadLetters('q', { limit: 2, cursor: page.next });
      expect(rest.items.map((d) => d.message.id)).toEqual(['m3']);
      expect(rest.next).toBeNull();
      expect(await store.redrive('q', ['m2'])).toBe(1);
      const claims = await claim('q');
      expect(ids(claims)).toEqual(['m2']);
      expect(claims[0]!.deliveries[0]!.attempt).toBe(1);
      expect(await store.purgeDeadLetters('q', ['m1'])).toBe(1);
      expect(await store.purgeDeadLetters('q')).toBe(1);
      expect((await store.listDeadLetters('q', { limit: 10 })).items).toEqual([]);
      const stats = (await store.stats()).find((s) => s.name === 'q')!;
      expect(stats).toMatchObject({ depth: 1, inFlight: 1, deadLettered: 0 });
    });

    it('forgets a purged message whole: not found afterwards (never shown as delivered), and its id free for a new send', async () => {
      await store.send('q', [msg('m1'), msg('m2')]);
      await settle(await claim('q'), { kind: 'deadletter', reason: 'permanent failure: HTTP 400' });
      expect(await store.purgeDeadLetters('q', ['m1'])).toBe(1);
      expect(await store.getMessage('m1')).toEqual([]);
      expect((await store.getMessage('m2'))[0]!.deliveries[0]!.status).toBe('deadlettered');
      expect(await store.purgeDeadLetters('q')).toBe(1);
      expect(await store.getMessage('m2')).toEqual([]);
      const [again] = await store.send('q', [msg('m1')]);
      expect(again).toMatchObject({ id: 'm1', duplicate: false });
      expect(ids(await claim('q'))).toEqual(['m1']);
      expect((await store.stats()).find((s) => s.name === 'q')).toMatchObject({ depth: 1, inFlight: 1, deadLettered: 0 });
    });

    it('pauses and resumes a channel for every claimer', async () => {
      await store.send('q', [msg('m1')]);
      await store.setPaused('q', true);
      expect(await claim('q')).toEqual([]);
      expect((await store.stats()).find((s) => s.name === 'q')!.paused).toBe(true);
      await store.setPaused('q', false);
      expect(ids(await claim('q'))).toEqual(['m1']);
    });

    describe('fifo', () => {
      it('delivers each key in order with one in flight per key, keys in parallel', async () => {
        await store.send('f', [msg('a1', { key: 'a' }), msg('a2', { key: 'a' }), msg('b1', { key: 'b' }), msg('b2', { key: 'b' })]);
        const first = await claim('f');
        expect(ids(first).sort()).toEqual(['a1', 'b1']);
        expect(await claim('f')).toEqual([]);
        await settle(first.filter((c) => c.lane === 'a'));
        expect(ids(await claim('f'))).toEqual(['a2']);
      });

      it('is fair across keys: a key that just finished waits behind the others', async () => {
        await store.send('f', [msg('a1', { key: 'a' }), msg('a2', { key: 'a' })]);
        clock.advance(10);
        await store.send('f', [msg('b1', { key: 'b' })]);
        const a = await claim('f', 1);
        expect(ids(a)).toEqual(['a1']);
        clock.advance(10);
        await settle(a);
        expect(ids(await claim('f', 1))).toEqual(['b1']);
      });

      it('parks a key on exhaustion while other keys go on; retry and skip release it', async () => {
        await store.send('f', [msg('a1', { key: 'a' }), msg('a2', { key: 'a' }), msg('b1', { key: 'b' })]);
        const first = await claim('f');
        const results = await store.settle(first.map((c) => c.deliveries[0]!).map((d) => ({
          deliveryId: d.deliveryId, epoch: d.epoch, attempt: attempt(), decision: d.message.key === 'a' ? { kind: 'park', reason: 'permanent failure: HTTP 400' } : { kind: 'delivered' },
        })));
        expect([...results].sort()).toEqual(['blocked', 'ok']);
        await store.send('f', [msg('b2', { key: 'b' })]);
        expect(ids(await claim('f'))).toEqual(['b2']);
        const parked = await store.listBlockedLanes('f', { limit: 10 });
        expect(parked.items).toHaveLength(1);
        expect(parked.items[0]).toMatchObject({ lane: 'a', state: 'parked', reason: 'permanent failure: HTTP 400', pending: 2 });
        expect(parked.items[0]!.head!.message.id).toBe('a1');
        expect(parked.items[0]!.head!.status).toBe('parked');
        expect((await store.stats()).find((s) => s.name === 'f')!.parkedLanes).toBe(1);
        expect(await store.retryLane('f', 'a')).toBe(true);
        const retried = await claim('f');
        expect(ids(retried)).toEqual(['a1']);
        expect(retried[0]!.deliveries[0]!.attempt).toBe(1);
        await settle(retried, { kind: 'park', reason: 'still failing' });
        const skipped = await store.skipLaneHead('f', 'a');
        expect(skipped).toMatchObject({ status: 'skipped' });
        expect(skipped!.message.id).toBe('a1');
        expect((await store.getLane('f', 'a'))!.state).toBe('active');
        const next = await claim('f');
        expect(ids(next)).toEqual(['a2']);
        expect(await store.redeliverSkipped('f', ['a1'])).toBe(1);
        await settle(next);
        expect(ids(await claim('f'))).toEqual(['a1']);
      });

      it('puts a redriven message back ahead of its key’s undelivered messages', async () => {
        await store.send('f', [msg('a1', { key: 'a' }), msg('a2', { key: 'a' }), msg('a3', { key: 'a' })]);
        await settle(await claim('f'), { kind: 'deadletter', reason: 'x' });
        const a2 = await claim('f');
        expect(ids(a2)).toEqual(['a2']);
        expect(await store.redrive('f')).toBe(1);
        expect(await claim('f')).toEqual([]);
        await settle(a2);
        expect(ids(await claim('f'))).toEqual(['a1']);
      });

      it('takes an expired lane lease over and fences the old holder', async () => {
        await store.send('f', [msg('a1', { key: 'a' }), msg('a2', { key: 'a' })]);
        const old = await claim('f', 10, 1, 'x');
        clock.advance(LEASE + 1);
        const taken = await claim('f', 10, 1, 'y');
        expect(ids(taken)).toEqual(['a1']);
        expect(taken[0]!.deliveries[0]!.attempt).toBe(2);
        expect(await settle(old)).toEqual(['fenced']);
        expect(await claim('f')).toEqual([]);
        await settle(taken);
        expect(ids(await claim('f'))).toEqual(['a2']);
      });
    });

    describe('topics', () => {
      it('fans out to every subscription with sequences in publish order', async () => {
        const sent = await store.send('t', [msg('e1', { key: 'k1' }), msg('e2', { key: 'k2' }), msg('e3', { key: 'k1' })]);
        expect(sent.map((s) => s.sequence)).toEqual([1, 2, 3]);
        const a = await claim('t/a');
        expect(ids(a)).toEqual(['e1']);
        expect(a[0]!.deliveries[0]!.message).toMatchObject({ channel: 't', sequence: 1 });
        expect(await claim('t/a')).toEqual([]);
        await settle(a);
        expect(ids(await claim('t/a'))).toEqual(['e2']);
        const b = await claim('t/b');
        expect(ids(b).sort()).toEqual(['e1', 'e2']);
        const views = await store.getMessage('e1');
        expect(views[0]!.deliveries.map((d) => d.target)).toEqual(['t/a', 't/b']);
      });

      it('settles and claims the next head in one step', async () => {
        await store.send('t', [msg('e1'), msg('e2')]);
        const first = await claim('t/a');
        const next = { target: 't/a', limit: 1, owner: 'o1', leaseMs: LEASE };
        const d = first[0]!.deliveries[0]!;
        const step = await store.settleAndClaim([{ deliveryId: d.deliveryId, epoch: d.epoch, decision: { kind: 'delivered' }, attempt: attempt() }], next);
        expect(step.results).toEqual(['ok']);
        expect(ids(step.claims)).toEqual(['e2']);
        const e2 = step.claims[0]!.deliveries[0]!;
        const last = await store.settleAndClaim([{ deliveryId: e2.deliveryId, epoch: e2.epoch, decision: { kind: 'delivered' }, attempt: attempt() }], next);
        expect(last).toEqual({ results: ['ok'], claims: [] });
        expect((await store.stats()).find((s) => s.name === 't/a')).toMatchObject({ depth: 0, delivered: 2, lastSequence: 2 });
      });

      it('claims ordered batches and retries them whole', async () => {
        await store.send('t', Array.from({ length: 5 }, (_, i) => msg(`e${i + 1}`)));
        const batch = await claim('t/a', 1, 3);
        expect(ids(batch)).toEqual(['e1', 'e2', 'e3']);
        await settle(batch, { kind: 'retry', availableAt: clock.now() + 1_000, reason: 'HTTP 503' });
        expect(await claim('t/a', 1, 3)).toEqual([]);
        clock.advance(1_000);
        const again = await claim('t/a', 1, 3);
        expect(ids(again)).toEqual(['e1', 'e2', 'e3']);
        expect(again[0]!.deliveries.map((d) => d.attempt)).toEqual([2, 2, 2]);
        await settle(again);
        expect(ids(await claim('t/a', 1, 3))).toEqual(['e4', 'e5']);
      });

      it('lets a partial batch wait up to maxBatchWait for the batch to fill', async () => {
        await store.send('t', [msg('e1'), msg('e2')]);
        const wait = (limit: number) => store.claim({ target: 't/a', limit, owner: 'o', leaseMs: LEASE, batchSize: 3, maxBatchWaitMs: 500 });
        expect(await wait(1)).toEqual([]);
        expect(await store.nextWakeAt('t/a')).toBe(clock.now() + 500);
        clock.advance(100);
        await store.send('t', [msg('e3'), msg('e4')]);
        expect(ids(await wait(1))).toEqual(['e1', 'e2', 'e3']);
      });

      it('claims a short batch once the head has waited maxBatchWait', async () => {
        await store.send('t', [msg('e1')]);
        const wait = () => store.claim({ target: 't/a', limit: 1, owner: 'o', leaseMs: LEASE, batchSize: 3, maxBatchWaitMs: 500 });
        expect(await wait()).toEqual([]);
        clock.advance(500);
        expect(ids(await wait())).toEqual(['e1']);
      });

      it('reads each lane of a settlement batch as it stands: a stalled lane stalled again beside a queue delivery and a lane stalled for the first time', async () => {
        await store.send('t', [msg('e1', { key: 'k' })]);
        await store.send('q', [msg('q1')]);
        const stallAt = () => ({ kind: 'stall' as const, availableAt: clock.now() + 60_000, reason: 'HTTP 500' });
        expect(await settle(await claim('t/a'), stallAt())).toEqual(['blocked']);
        clock.advance(60_000);
        const batch = [...await claim('t/a'), ...await claim('q'), ...await claim('t/b')];
        expect(ids(batch)).toEqual(['e1', 'q1', 'e1']);
        const results = await store.settle(batch.flatMap((c) => c.deliveries.map((d) => ({
          deliveryId: d.deliveryId, epoch: d.epoch, attempt: attempt(d.attempt), decision: c.target === 'q' ? { kind: 'delivered' as const } : stallAt(),
        }))));
        expect(results).toEqual(['ok', 'ok', 'blocked']);
        expect(await store.getLane('t/a', '')).toMatchObject({ state: 'stalled' });
        expect(await store.getLane('t/b', 'k')).toMatchObject({ state: 'stalled' });
      });

      it('stalls a subscription once, keeps retrying at the cap, and skips on request', async () => {
        await store.send('t', [msg('e1'), msg('e2')]);
        const stallAt = () => ({ kind: 'stall' as const, availableAt: clock.now() + 60_000, reason: 'HTTP 500' });
        expect(await settle(await claim('t/a'), stallAt())).toEqual(['blocked']);
        expect((await store.getMessage('e1'))[0]!.deliveries[0]!.status).toBe('stalled');
        clock.advance(60_000);
        expect(await settle(await claim('t/a'), stallAt())).toEqual(['ok']);
        const lane = await store.getLane('t/a', '');
        expect(lane).toMatchObject({ state: 'stalled', reason: 'HTTP 500', pending: 2 });
        const blocked = await store.listBlockedLanes('t/a', { limit: 10 });
        expect(blocked.items.map((l) => l.lane)).toEqual(['']);
        expect((await store.stats()).find((s) => s.name === 't/a')!.stalledLanes).toBe(1);
        expect(await claim('t/b')).toHaveLength(1);
        await store.skipLaneHead('t/a', '');
        expect(ids(await claim('t/a'))).toEqual(['e2']);
        expect((await store.listSkipped('t/a', { limit: 10 })).items.map((d) => d.message.id)).toEqual(['e1']);
      });

      it('backfills a new subscription that starts from the beginning', async () => {
        await store.send('t', [msg('e1'), msg('e2')]);
        await store.declare([...channels, { name: 't/late', kind: 'subscription', topic: 't', ordering: 'topic', startFrom: 'beginning' }, { name: 't/new', kind: 'subscription', topic: 't', ordering: 'topic' }]);
        expect(ids(await claim('t/late', 1, 10))).toEqual(['e1', 'e2']);
        expect(await claim('t/new')).toEqual([]);
        await store.send('t', [msg('e3')]);
        expect(ids(await claim('t/new'))).toEqual(['e3']);
      });

      it('reports lag per subscription', async () => {
        await store.send('t', [msg('e1'), msg('e2')]);
        clock.advance(5_000);
        await settle(await claim('t/a'));
        const stats = await store.stats();
        expect(stats.find((s) => s.name === 't')!.lastSequence).toBe(2);
        expect(stats.find((s) => s.name === 't/a')).toMatchObject({ depth: 1, lastSequence: 1, oldestAgeMs: 5_000 });
      });
    });

    it('shares circuit breaker states, newest wins', async () => {
      expect(await store.listBreakers()).toEqual([]);
      await store.saveBreaker({ origin: 'http://a:1', state: 'open', openUntil: 2_000, reason: '5 consecutive failures', updatedAt: 1_000 });
      await store.saveBreaker({ origin: 'http://a:1', state: 'closed', openUntil: null, reason: 'stale', updatedAt: 999 });
      expect(await store.listBreakers()).toEqual([{ origin: 'http://a:1', state: 'open', openUntil: 2_000, reason: '5 consecutive failures', updatedAt: 1_000 }]);
      await store.saveBreaker({ origin: 'http://a:1', state: 'closed', openUntil: null, reason: 'probe succeeded', updatedAt: 3_000 });
      expect((await store.listBreakers())[0]).toMatchObject({ state: 'closed', updatedAt: 3_000 });
    });

    it('shares schedule state: forward only, pause keeps the cursor, resume skips the paused time', async () => {
      expect(await store.listSchedules()).toEqual([]);
      await store.advanceSchedule('nightly', 1_000, null);
      await store.advanceSchedule('nightly', 5_000, 5_000);
      // A slower instance recording older ticks moves nothing back.
      await store.advanceSchedule('nightly', 3_000, 3_000);
      await store.advanceSchedule('nightly', 6_000, null);
      expect(await store.listSchedules()).toEqual([{ name: 'nightly', handledUntil: 6_000, lastRunAt: 5_000, paused: false }]);
      await store.setSchedulePaused('nightly', true, 9_000);
      expect((await store.listSchedules())[0]).toEqual({ name: 'nightly', handledUntil: 6_000, lastRunAt: 5_000, paused: true });
      await store.setSchedulePaused('nightly', false, 20_000);
      expect((await store.listSchedules())[0]).toEqual({ name: 'nightly', handledUntil: 20_000, lastRunAt: 5_000, paused: false });
      // Pausing a schedule that never ran creates its row.
      await store.setSchedulePaused('hourly', true, 7_000);
      expect(await store.listSchedules()).toEqual([
        { name: 'hourly', handledUntil: 7_000, lastRunAt: null, paused: true },
        { name: 'nightly', handledUntil: 20_000, lastRunAt: 5_000, paused: false },
      ]);
    });

    it('probes writes without changing anything an operator can see', async () => {
      await store.send('q', [msg('m1')]);
      await store.setPaused('f', true);
      const before = await store.stats();
      await store.probeWrite();
      await store.probeWrite();
      expect(await store.stats()).toEqual(before);
      expect(ids(await claim('q'))).toEqual(['m1']);
      expect(await claim('f')).toEqual([]);
    });

    it('sweeps delivered messages past retention', async () => {
      await store.send('q', [msg('m1'), msg('m2')]);
      const claims = await claim('q', 1);
      await settle(claims);
      clock.advance(1_000);
      expect(await store.sweep(clock.now())).toBe(1);
      expect(await store.getMessage('m1')).toEqual([]);
      expect(await store.getMessage('m2')).toHaveLength(1);
    });

    it('an aborted sweep deletes nothing more; the next sweep does the work', async () => {
      await store.send('q', [msg('m1'), msg('m2')]);
      await settle(await claim('q', 2));
      clock.advance(1_000);
      const stopping = new AbortController();
      stopping.abort();
      expect(await store.sweep(clock.now(), {}, stopping.signal)).toBe(0);
      expect(await store.getMessage('m1')).toHaveLength(1);
      expect(await store.sweep(clock.now())).toBe(2);
      expect(await store.getMessage('m1')).toEqual([]);
    });

    it('sweeps past more kept dead letters than one slice looks at, and keeps them', async () => {
      const kept = 5_003;
      for (let i = 0; i < kept; i += 1000) {
        await store.send('q', Array.from({ length: Math.min(1000, kept - i) }, (_, j) => msg(`dead${i + j}`)));
        await settle(await claim('q', 1000), { kind: 'deadletter', reason: 'HTTP 400' });
        clock.advance(1);
      }
      await store.send('q', [msg('done1'), msg('done2')]);
      await settle(await claim('q', 2));
      clock.advance(1_000);
      expect(await store.sweep(clock.now())).toBe(2);
      expect(await store.getMessage('done1')).toEqual([]);
      expect((await store.stats()).find((s) => s.name === 'q')).toMatchObject({ deadLettered: kept });
      expect((await store.getMessage('dead0'))[0]!.deliveries[0]!.status).toBe('deadlettered');
      expect(await store.sweep(clock.now())).toBe(0);
    }, 60_000);

    describe('edge cases', () => {
      it('keeps topic sequences gap-free when a batch carries duplicates', async () => {
        expect((await store.send('t', [msg('e1'), msg('e2')])).map((r) => r.sequence)).toEqual([1, 2]);
        const again = await store.send('t', [msg('e2'), msg('e3'), msg('e3'), msg('e4')]);
        expect(again.map((r) => [r.sequence, r.duplicate])).toEqual([[2, true], [3, false], [3, true], [4, false]]);
        expect((await store.stats()).find((s) => s.name === 't')!.lastSequence).toBe(4);
        const a = await claim('t/a', 1, 10);
        expect(a[0]!.deliveries.map((d) => d.message.sequence)).toEqual([1, 2, 3, 4]);
        // A batch of duplicates only takes no sequence: the next publish goes on from 4.
        expect((await store.send('t', [msg('e1'), msg('e4')])).map((r) => [r.sequence, r.duplicate])).toEqual([[1, true], [4, true]]);
        expect((await store.send('t', [msg('e5')])).map((r) => r.sequence)).toEqual([5]);
        expect((await store.stats()).find((s) => s.name === 't')!.lastSequence).toBe(5);
      });

      it('fences the second settlement of one delivery in the same batch', async () => {
        await store.send('q', [msg('m1')]);
        const [c] = await claim('q');
        const d = c!.deliveries[0]!;
        const once = { deliveryId: d.deliveryId, epoch: d.epoch, attempt: attempt(), decision: { kind: 'delivered' as const } };
        expect(await store.settle([once, once])).toEqual(['ok', 'fenced']);
        expect((await store.getMessage('m1'))[0]!.deliveries[0]!.history).toHaveLength(1);
      });

      it('applies mixed outcomes of one ordered batch as if settled one by one', async () => {
        await store.send('t', Array.from({ length: 4 }, (_, i) => msg(`e${i + 1}`)));
        const [batch] = await claim('t/a', 1, 3);
        const later = clock.now() + 1_000;
        const results = await store.settle(batch!.deliveries.map((d, i) => ({
          deliveryId: d.deliveryId, epoch: d.epoch, attempt: attempt(d.attempt),
          decision: i === 0 ? { kind: 'delivered' as const } : { kind: 'retry' as const, availableAt: later, reason: 'HTTP 503' },
        })));
        expect(results).toEqual(['ok', 'ok', 'ok']);
        expect(await claim('t/a', 1, 3)).toEqual([]);
        expect(await store.nextWakeAt('t/a')).toBe(later);
        clock.advance(1_000);
        expect(ids(await claim('t/a', 1, 3))).toEqual(['e2', 'e3', 'e4']);
      });

      it('drops an emptied fifo lane and starts it again for the next message', async () => {
        await store.send('f', [msg('a1', { key: 'a' })]);
        await settle(await claim('f'));
        expect(await store.getLane('f', 'a')).toBeNull();
        await store.send('f', [msg('a2', { key: 'a' })]);
        expect(ids(await claim('f'))).toEqual(['a2']);
      });

      it('pauses every subscription of a paused topic', async () => {
        await store.send('t', [msg('e1')]);
        await store.setPaused('t', true);
        expect(await claim('t/a')).toEqual([]);
        await store.setPaused('t', false);
        expect(ids(await claim('t/a'))).toEqual(['e1']);
      });

      it('releases a lane so its head is claimable at once, attempt not counted', async () => {
        await store.send('f', [msg('a1', { key: 'a' }), msg('a2', { key: 'a' })]);
        const first = await claim('f');
        await store.release(first.flatMap((c) => c.deliveries));
        const again = await claim('f');
        expect(ids(again)).toEqual(['a1']);
        expect(again[0]!.deliveries[0]!.attempt).toBe(1);
      });

      it('keeps a renewed lane leased past its first expiry', async () => {
        await store.send('f', [msg('a1', { key: 'a' }), msg('a2', { key: 'a' })]);
        const held = await claim('f');
        const d = held[0]!.deliveries[0]!;
        clock.advance(LEASE - 1_000);
        expect(await store.renew([{ deliveryId: d.deliveryId, epoch: d.epoch }], LEASE)).toEqual([]);
        clock.advance(LEASE - 1_000);
        expect(await claim('f', 10, 1, 'other')).toEqual([]);
        expect(await settle(held)).toEqual(['ok']);
        expect(ids(await claim('f'))).toEqual(['a2']);
      });

      it('refuses to skip a head that is being delivered', async () => {
        await store.send('f', [msg('a1', { key: 'a' })]);
        await claim('f');
        await expect(store.skipLaneHead('f', 'a')).rejects.toMatchObject({ code: 'conflict' });
      });

      it('pages through blocked lanes', async () => {
        await store.send('f', ['a', 'b', 'c'].map((k) => msg(`${k}1`, { key: k })));
        await settle(await claim('f'), { kind: 'park', reason: 'permanent failure: HTTP 400' });
        const first = await store.listBlockedLanes('f', { limit: 2 });
        expect(first.items.map((l) => l.lane)).toEqual(['a', 'b']);
        const rest = await store.listBlockedLanes('f', { limit: 2, cursor: first.next });
        expect(rest.items.map((l) => l.lane)).toEqual(['c']);
        expect(rest.next).toBeNull();
      });

      it('sweeps a published message only once every subscription delivered it', async () => {
        await store.send('t', [msg('e1')]);
        await settle(await claim('t/a'));
        clock.advance(1_000);
        expect(await store.sweep(clock.now())).toBe(0);
        await settle(await claim('t/b'));
        expect(await store.sweep(clock.now())).toBe(1);
        expect(await store.getMessage('e1')).toEqual([]);
      });

      it('answers a duplicate of a delivered message as delivered', async () => {
        await store.send('q', [msg('m1')]);
        await settle(await claim('q'));
        expect((await store.send('q', [msg('m1')]))[0]).toMatchObject({ id: 'm1', duplicate: true, status: 'delivered' });
      });

      it('answers a duplicate of a parked or stalled head as GET shows it, and the messages behind it as queued', async () => {
        await store.send('f', [msg('a1', { key: 'a' }), msg('a2', { key: 'a' })]);
        await settle(await claim('f'), { kind: 'park', reason: 'permanent failure: HTTP 400' });
        await store.send('t', [msg('e1'), msg('e2')]);
        await settle(await claim('t/a'), { kind: 'stall', availableAt: clock.now() + 60_000, reason: 'HTTP 500' });
        const again = [...(await store.send('f', [msg('a1', { key: 'a' }), msg('a2', { key: 'a' })])), ...(await store.send('t', [msg('e1'), msg('e2')]))];
        expect(again.map((r) => [r.id, r.status, r.duplicate])).toEqual([['a1', 'parked', true], ['a2', 'queued', true], ['e1', 'stalled', true], ['e2', 'queued', true]]);
        for (const id of ['a1', 'a2']) expect((await store.getMessage(id))[0]!.deliveries[0]!.status).toBe(again.find((r) => r.id === id)!.status);
        expect((await store.getMessage('e1'))[0]!.deliveries.map((d) => [d.target, d.status])).toEqual([['t/a', 'stalled'], ['t/b', 'queued']]);
        expect(await store.retryLane('f', 'a')).toBe(true);
        expect((await store.send('f', [msg('a1', { key: 'a' })]))[0]).toMatchObject({ status: 'queued', duplicate: true });
      });
    });
  });
}
