import { describe, expect, it } from 'vitest';
import type { FakeClock } from '../../src/domain/clock.js';
import type { Decision } from '../../src/domain/decide.js';
import { newMessage } from '../../src/domain/message.js';
import type { Claim, InFlightGroup, LeaseRef, Store } from '../../src/storage/port.js';
import { useConformanceStore } from './conformance-fixture.js';

/**
 * Conformance of asynchronous acknowledgement: a deferred attempt stays in flight (its lease and
 * lane held) until its completion settles it or its deadline passes and it is taken over, and a
 * completion naming an attempt that is no longer current changes nothing.
 */
export function describeDeferredConformance(adapter: string, open: (clock: FakeClock) => Promise<Store>): void {
  describe(`storage conformance: ${adapter}: deferred deliveries`, () => {
    let clock: FakeClock;
    let store: Store;
    const LEASE = 30_000;
    const ASYNC = 60_000;
    useConformanceStore(open, (s, c) => {
      store = s;
      clock = c;
    });

    const send = (channel: string, ids: string[], key: string | null = null) => store.send(channel, ids.map((id) => newMessage({ id, key, type: 'x', data: {} })));
    const claim = (target: string, batchSize = 1, owner = 'o1') => store.claim({ target, limit: 10, owner, leaseMs: LEASE, batchSize });
    const leases = (claims: Claim[]): LeaseRef[] => claims.flatMap((c) => c.deliveries.map((d) => ({ deliveryId: d.deliveryId, epoch: d.epoch })));
    const defer = (claims: Claim[]) => store.defer(leases(claims), clock.now() + ASYNC, clock.now() + ASYNC + LEASE);
    /** What the completion route does: find the attempt, settle its deliveries with one decision. */
    const complete = async (lease: LeaseRef, decision: Decision, error: string | null = null) => {
      const found = await store.findInFlight(lease.deliveryId, lease.epoch);
      if (typeof found === 'string') return found;
      return settle(found, decision, error);
    };
    const settle = (group: InFlightGroup, decision: Decision, error: string | null) =>
      store.settle(group.deliveries.map((d) => ({
        deliveryId: d.deliveryId, epoch: d.epoch, decision,
        attempt: { attempt: d.attempt, startedAt: group.deferredAt ?? clock.now(), durationMs: 5, statusCode: 202, error, response: null },
      })));
    const delivery = async (id: string) => (await store.getMessage(id))[0]!.deliveries[0]!;

    it('defers only the current attempt, holds its lease past the call\'s own, and a completion settles it delivered', async () => {
      await send('q', ['m1']);
      const claims = await claim('q');
      const stale = { deliveryId: claims[0]!.deliveries[0]!.deliveryId, epoch: claims[0]!.deliveries[0]!.epoch - 1 };
      expect(await store.defer([stale], clock.now() + ASYNC, clock.now() + ASYNC + LEASE)).toEqual([false]);
      const deferredAt = clock.now();
      expect(await defer(claims)).toEqual([true]);
      clock.advance(LEASE * 1.5);
      expect(await claim('q', 1, 'o2')).toEqual([]);
      expect((await delivery('m1')).status).toBe('delivering');
      expect(await store.expireDeferred({ target: 'q', owner: 'o2', leaseMs: LEASE, limit: 10 })).toEqual([]);
      const found = await store.findInFlight(leases(claims)[0]!.deliveryId, leases(claims)[0]!.epoch);
      expect(found).toMatchObject({ target: 'q', lane: null, deferredAt, deliveries: [{ messageId: 'm1', attempt: 1 }] });
      expect(await complete(leases(claims)[0]!, { kind: 'delivered' })).toEqual(['ok']);
      const after = await delivery('m1');
      expect(after.status).toBe('delivered');
      expect(after.history).toMatchObject([{ attempt: 1, statusCode: 202, startedAt: deferredAt }]);
      // A second completion of the same token: the attempt was settled already.
      expect(await complete(leases(claims)[0]!, { kind: 'delivered' })).toBe('settled');
      expect((await store.stats()).find((s) => s.name === 'q')).toMatchObject({ inFlight: 0, depth: 0, delivered: 1 });
    });

    it('a completion reporting a failure retries the delivery by the decision, counting the one attempt', async () => {
      await send('q', ['m1']);
      const claims = await claim('q');
      await defer(claims);
      expect(await complete(leases(claims)[0]!, { kind: 'retry', availableAt: clock.now() + 5_000, reason: 'completed as failed: busy' }, 'completed as failed: busy')).toEqual(['ok']);
      expect(await delivery('m1')).toMatchObject({ status: 'retrying', attempts: 1, lastError: 'completed as failed: busy' });
      expect(await claim('q')).toEqual([]);
      clock.advance(5_000);
      const again = await claim('q');
      expect(again[0]!.deliveries[0]!.attempt).toBe(2);
    });

    it('a deferral past its deadline is taken over once, without counting an attempt; the late completion is fenced', async () => {
      await send('q', ['m1', 'm2']);
      const claims = await claim('q');
      const deferredAt = clock.now();
      await defer(claims);
      clock.advance(ASYNC + 1);
      const expired = await store.expireDeferred({ target: 'q', owner: 'o2', leaseMs: LEASE, limit: 10 });
      expect(expired.map((g) => g.deliveries.map((d) => d.messageId))).toEqual([['m1'], ['m2']]);
      expect(expired[0]).toMatchObject({ target: 'q', lane: null, deferredAt, deliveries: [{ attempt: 1, epoch: leases(claims)[0]!.epoch + 1 }] });
      // Taken: another instance finds nothing, and nothing is claimable while the taker holds it.
      expect(await store.expireDeferred({ target: 'q', owner: 'o3', leaseMs: LEASE, limit: 10 })).toEqual([]);
      expect(await claim('q', 1, 'o3')).toEqual([]);
      expect(await complete(leases(claims)[0]!, { kind: 'delivered' })).toBe('superseded');
      expect(await store.settle([{ ...leases(claims)[0]!, decision: { kind: 'delivered' }, attempt: { attempt: 1, startedAt: deferredAt, durationMs: 1, statusCode: 202, error: null, response: null } }])).toEqual(['fenced']);
      for (const group of expired) expect(await settle(group, { kind: 'retry', availableAt: clock.now() + 1_000, reason: 'asynchronous completion timed out' }, 'asynchronous completion timed out')).toEqual(['ok']);
      const m1 = await delivery('m1');
      expect(m1).toMatchObject({ status: 'retrying', attempts: 1, lastError: 'asynchronous completion timed out' });
      expect(m1.history.filter((a) => !a.fenced)).toMatchObject([{ attempt: 1, statusCode: 202, error: 'asynchronous completion timed out' }]);
      clock.advance(1_000);
      const retried = await claim('q');
      expect(retried.map((c) => c.deliveries[0]!.attempt)).toEqual([2, 2]);
      expect((await store.stats()).find((s) => s.name === 'q')).toMatchObject({ inFlight: 2, depth: 2 });
    });

    it('an ordered lane stays blocked while its head is deferred, and goes on once it is completed', async () => {
      await send('f', ['m1', 'm2'], 'k');
      const claims = await claim('f');
      await defer(claims);
      clock.advance(LEASE * 1.5);
      expect(await claim('f', 1, 'o2')).toEqual([]);
      expect(await store.nextWakeAt('f')).toBeGreaterThan(clock.now());
      expect(await complete(leases(claims)[0]!, { kind: 'delivered' })).toEqual(['ok']);
      const next = await claim('f', 1, 'o2');
      expect(next.map((c) => c.deliveries[0]!.message.id)).toEqual(['m2']);
    });

    it('a deferred ordered batch is found and taken over whole, in order, and its lane waits for the retry', async () => {
      await send('t', ['e1', 'e2', 'e3']);
      const claims = await claim('t/a', 3);
      await defer(claims);
      const head = leases(claims)[0]!;
      const found = await store.findInFlight(head.deliveryId, head.epoch);
      expect(typeof found === 'string' ? found : found.deliveries.map((d) => d.messageId)).toEqual(['e1', 'e2', 'e3']);
      clock.advance(ASYNC + 1);
      const [group, ...others] = await store.expireDeferred({ target: 't/a', owner: 'o2', leaseMs: LEASE, limit: 10 });
      expect(others).toEqual([]);
      expect(group).toMatchObject({ target: 't/a', lane: '' });
      expect(group!.deliveries.map((d) => d.messageId)).toEqual(['e1', 'e2', 'e3']);
      await settle(group!, { kind: 'retry', availableAt: clock.now() + 2_000, reason: 'asynchronous completion timed out' }, 'asynchronous completion timed out');
      expect(await claim('t/a', 3)).toEqual([]);
      clock.advance(2_000);
      const again = await claim('t/a', 3);
      expect(again[0]!.deliveries.map((d) => [d.message.id, d.attempt])).toEqual([['e1', 2], ['e2', 2], ['e3', 2]]);
      // The earlier batch token is stale now.
      expect(await store.findInFlight(head.deliveryId, head.epoch)).toBe('superseded');
    });

    it('a completion may come before the 202 was recorded: the attempt in flight is found, not deferred', async () => {
      await send('q', ['m1']);
      const claims = await claim('q');
      const found = await store.findInFlight(leases(claims)[0]!.deliveryId, leases(claims)[0]!.epoch);
      expect(found).toMatchObject({ deferredAt: null });
      expect(await complete(leases(claims)[0]!, { kind: 'delivered' })).toEqual(['ok']);
      // The 202 recorded late defers nothing.
      expect(await defer(claims)).toEqual([false]);
      expect(await store.findInFlight(999_999, 1)).toBe('missing');
      // Settled, its delivery still names its target (a completion checks the caller's channel with it).
      expect(await store.findInFlight(leases(claims)[0]!.deliveryId, leases(claims)[0]!.epoch)).toBe('settled');
      expect(await store.deliveryTarget(leases(claims)[0]!.deliveryId)).toBe('q');
      expect(await store.deliveryTarget(999_999)).toBeNull();
    });

    it('a deferral that ended (completed and claimed again) is never timed out later, though its deadline passes', async () => {
      await send('q', ['m1', 'm2']);
      const claims = await claim('q');
      await defer(claims);
      const [m1, m2] = leases(claims);
      expect(await complete(m1!, { kind: 'delivered' })).toEqual(['ok']);
      expect(await complete(m2!, { kind: 'retry', availableAt: clock.now(), reason: 'completed as failed' })).toEqual(['ok']);
      const again = await claim('q');
      expect(again.map((c) => c.deliveries[0]!.message.id)).toEqual(['m2']);
      clock.advance(ASYNC + 1);
      expect(await store.expireDeferred({ target: 'q', owner: 'o2', leaseMs: LEASE, limit: 10 })).toEqual([]);
      // The new attempt is an ordinary lease: it expires and is claimed again like any other.
      const retaken = await claim('q', 1, 'o2');
      expect(retaken.map((c) => [c.deliveries[0]!.message.id, c.deliveries[0]!.attempt])).toEqual([['m2', 3]]);
    });

    it('reports a message\'s expiry with its attempt in flight, so the decision can dead-letter what would retry past it', async () => {
      const expiresAt = clock.now() + 90_000;
      await store.send('q', [newMessage({ id: 'm1', type: 'x', data: {}, expiresAt })]);
      const claims = await claim('q');
      await defer(claims);
      const found = await store.findInFlight(leases(claims)[0]!.deliveryId, leases(claims)[0]!.epoch);
      expect(typeof found === 'string' ? found : found.deliveries.map((d) => d.expiresAt)).toEqual([expiresAt]);
      clock.advance(ASYNC + 1);
      const [group] = await store.expireDeferred({ target: 'q', owner: 'o2', leaseMs: LEASE, limit: 10 });
      expect(group!.deliveries.map((d) => d.expiresAt)).toEqual([expiresAt]);
    });

    it('keeps one completion key', async () => {
      const key = await store.completionKey();
      expect(key.length).toBeGreaterThanOrEqual(32);
      expect(await store.completionKey()).toBe(key);
    });
  });
}
