import { describe, expect, it } from 'vitest';
import type { FakeClock } from '../../src/domain/clock.js';
import type { Decision } from '../../src/domain/decide.js';
import type { NewMessage } from '../../src/domain/message.js';
import type { Claim, Store } from '../../src/storage/port.js';
import { useConformanceStore } from './conformance-fixture.js';

/** Conformance cases of what a drain asks of the store: waiting retries made due, live deliveries listed. */
export function describeDrainConformance(adapter: string, open: (clock: FakeClock) => Promise<Store>): void {
  describe(`storage conformance: ${adapter}: drain`, () => {
    let clock: FakeClock;
    let store: Store;
    const LEASE = 30_000;
    useConformanceStore(open, (s, c) => {
      store = s;
      clock = c;
    });

    const msg = (id: string, extra: Partial<NewMessage> = {}): NewMessage => ({ id, key: null, type: 'test.happened', data: '{}', metadata: {}, deliverAt: null, ...extra });
    const claim = (target: string, limit = 10, batchSize = 1) => store.claim({ target, limit, owner: 'o1', leaseMs: LEASE, batchSize });
    const ids = (claims: Claim[]) => claims.flatMap((c) => c.deliveries.map((d) => d.message.id));
    const settle = (claims: Claim[], decision: Decision) =>
      store.settle(claims.flatMap((c) => c.deliveries.map((d) => ({
        deliveryId: d.deliveryId, epoch: d.epoch, decision, attempt: { attempt: d.attempt, startedAt: clock.now(), durationMs: 1, statusCode: 500, error: null, response: null },
      }))));
    const retryLater = (): Decision => ({ kind: 'retry', availableAt: clock.now() + 60_000, reason: 'HTTP 500' });

    it('makes waiting retries of a queue due now without counting an attempt; deliverAt is kept', async () => {
      await store.send('q', [msg('m1'), msg('m2'), msg('later', { deliverAt: clock.now() + 60_000 })]);
      await settle(await claim('q', 1), retryLater());
      expect(await store.hurryRetries(['q'])).toBe(1);
      const claims = await claim('q');
      expect(ids(claims).sort()).toEqual(['m1', 'm2']);
      expect(claims.find((c) => c.deliveries[0]!.message.id === 'm1')!.deliveries[0]!.attempt).toBe(2);
      expect(await store.hurryRetries(['q'])).toBe(0);
    });

    it('hurries only the head of a waiting fifo key, keeping its order; parked and in-flight keys stay as they are', async () => {
      await store.send('f', [msg('a1', { key: 'a' }), msg('a2', { key: 'a' }), msg('b1', { key: 'b' }), msg('b2', { key: 'b' }), msg('c1', { key: 'c' })]);
      const first = await claim('f');
      await settle(first.filter((c) => c.lane === 'a'), retryLater());
      await settle(first.filter((c) => c.lane === 'c'), { kind: 'park', reason: 'permanent failure: HTTP 400' });
      expect(await store.hurryRetries(['f'])).toBe(1);
      const next = await claim('f');
      expect(ids(next)).toEqual(['a1']);
      expect(next[0]!.deliveries[0]!.attempt).toBe(2);
      expect((await store.getLane('f', 'c'))!.state).toBe('parked');
      expect(await store.hurryRetries(['f'])).toBe(0);
    });

    it('hurries a retried batch whole and leaves a stalled lane alone', async () => {
      await store.send('t', [msg('e1', { key: 'k' }), msg('e2', { key: 'k' }), msg('e3', { key: 'k' })]);
      await settle(await claim('t/a', 1, 3), retryLater());
      await settle(await claim('t/b'), { kind: 'stall', availableAt: clock.now() + 60_000, reason: 'HTTP 500' });
      expect(await store.hurryRetries(['t/a', 't/b'])).toBe(1);
      const again = await claim('t/a', 1, 3);
      expect(ids(again)).toEqual(['e1', 'e2', 'e3']);
      expect(again[0]!.deliveries.map((d) => d.attempt)).toEqual([2, 2, 2]);
      expect(await claim('t/b')).toEqual([]);
      expect(await store.nextWakeAt('t/b')).toBe(clock.now() + 60_000);
    });

    it('lists live deliveries with status, head, lane state and pause, in lane order', async () => {
      await store.send('q', [msg('m1'), msg('m2', { deliverAt: clock.now() + 5_000 })]);
      await store.send('f', [msg('a1', { key: 'a' }), msg('a2', { key: 'a' }), msg('b1', { key: 'b' })]);
      await settle((await claim('f')).filter((c) => c.lane === 'a'), { kind: 'park', reason: 'permanent failure: HTTP 400' });
      await store.send('t', [msg('e1')]);
      await store.setPaused('t', true);
      await claim('q', 1);
      const live = await store.listLive(['q', 'f', 't/a'], 100);
      const view = live.map((d) => [d.target, d.messageId, d.status, d.head, d.laneState, d.paused]);
      expect(view).toEqual([
        ['q', 'm1', 'delivering', false, null, false],
        ['q', 'm2', 'scheduled', false, null, false],
        ['f', 'a1', 'parked', true, 'parked', false],
        ['f', 'a2', 'queued', false, 'parked', false],
        ['f', 'b1', 'delivering', true, 'active', false],
        ['t/a', 'e1', 'queued', true, 'active', true],
      ]);
      expect(live[2]).toMatchObject({ channel: 'f', key: 'a', type: 'test.happened', attempts: 1, lastError: 'permanent failure: HTTP 400', lane: 'a' });
      expect(live[5]!.channel).toBe('t');
      expect((await store.listLive(['q', 'f'], 3)).map((d) => d.messageId)).toEqual(['m1', 'm2', 'a1']);
      await expect(store.listLive(['nope'], 10)).rejects.toMatchObject({ code: 'not_found' });
    });

    it('lists a deferred attempt (answered 202) with the deadline of its completion, until it is settled or taken over', async () => {
      await store.send('q', [msg('m1'), msg('m2')]);
      const claims = await claim('q', 2);
      const deadline = clock.now() + 60_000;
      const [first] = claims.filter((c) => c.deliveries[0]!.message.id === 'm1').flatMap((c) => c.deliveries);
      expect(await store.defer([{ deliveryId: first!.deliveryId, epoch: first!.epoch }], deadline, deadline + LEASE)).toEqual([true]);
      const deferred = (await store.listLive(['q'], 10)).map((d) => [d.messageId, d.status, d.deferredUntil]);
      expect(deferred).toEqual([['m1', 'delivering', deadline], ['m2', 'delivering', null]]);
      expect((await store.listLive(['q'], 10))[0]!.epoch).toBe(first!.epoch);
      await settle(claims.filter((c) => c.deliveries[0]!.message.id === 'm1'), retryLater());
      expect((await store.listLive(['q'], 10)).map((d) => [d.messageId, d.status, d.deferredUntil])).toEqual([['m1', 'retrying', null], ['m2', 'delivering', null]]);
    });

    it('lists the lease a seek left on a lane whose call it fenced, until that lease ends', async () => {
      await store.send('t', [msg('e1'), msg('e2')]);
      await settle(await claim('t/a'), { kind: 'delivered' });
      await claim('t/a');
      const leaseEnd = clock.now() + LEASE;
      await store.seek('t/a', { sequence: 1 });
      const live = (await store.listLive(['t/a'], 10)).map((d) => [d.messageId, d.status, d.laneLeasedUntil]);
      expect(live).toEqual([['e1', 'queued', leaseEnd], ['e2', 'queued', leaseEnd]]);
      expect(await claim('t/a')).toEqual([]);
      clock.advance(LEASE);
      const again = await claim('t/a');
      expect(ids(again)).toEqual(['e1']);
      expect((await store.listLive(['t/a'], 10)).map((d) => [d.messageId, d.status, d.laneLeasedUntil])).toEqual([['e1', 'delivering', clock.now() + LEASE], ['e2', 'queued', clock.now() + LEASE]]);
      // A settlement frees the lane: a retry waits for its own time, not for a lease.
      await settle(again, retryLater());
      expect((await store.listLive(['t/a'], 10)).map((d) => [d.messageId, d.status, d.laneLeasedUntil])).toEqual([['e1', 'retrying', null], ['e2', 'queued', null]]);
    });
  });
}
