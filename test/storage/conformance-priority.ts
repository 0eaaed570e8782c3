import { describe, expect, it } from 'vitest';
import type { FakeClock } from '../../src/domain/clock.js';
import type { Decision } from '../../src/domain/decide.js';
import type { NewMessage } from '../../src/domain/message.js';
import type { Claim, Store } from '../../src/storage/port.js';
import type { ConformanceHarness } from './conformance-agreement.js';
import { CONFORMANCE_CHANNELS, useConformanceStore } from './conformance-fixture.js';

/**
 * Priority and expiry of plain-queue messages: claim order, the `expire` transition (dead letter
 * with reason `expired`, no attempt), a queue's ttl, redrive of an expired message, and the
 * refusals on fifo queues and topics. Every adapter runs them unchanged.
 */
export function describePriorityConformance(adapter: string, harness: ConformanceHarness): void {
  describe(`storage conformance: ${adapter}: priority and expiry`, () => {
    let clock: FakeClock;
    let store: Store;
    const LEASE = 30_000;
    useConformanceStore(harness.open, (s, c) => {
      store = s;
      clock = c;
    }, [...CONFORMANCE_CHANNELS, { name: 'ttl', kind: 'queue', ttlMs: 5_000 }]);

    const msg = (id: string, extra: Partial<NewMessage> = {}): NewMessage => ({ id, key: null, type: 'x', data: '{}', metadata: {}, deliverAt: null, ...extra });
    const claim = (target: string, limit = 10) => store.claim({ target, limit, owner: 'o1', leaseMs: LEASE });
    const ids = (claims: Claim[]) => claims.flatMap((c) => c.deliveries.map((d) => d.message.id));
    const settle = (claims: Claim[], decision: Decision) =>
      store.settle(claims.flatMap((c) => c.deliveries.map((d) => ({
        deliveryId: d.deliveryId, epoch: d.epoch, decision, attempt: { attempt: d.attempt, startedAt: clock.now(), durationMs: 1, statusCode: 500, error: null, response: null }, result: null,
      }))));
    const view = async (id: string, channel = 'q') => (await store.getMessage(id, channel))[0]!;
    const stat = async (name: string) => (await store.stats()).find((s) => s.name === name)!;

    /** Sends one message per millisecond, so creation (and due) order is the order given. */
    async function sendInTurn(target: string, messages: NewMessage[]): Promise<void> {
      for (const m of messages) {
        await store.send(target, [m]);
        clock.advance(1);
      }
    }

    it('claims the highest priority first, oldest first within a priority', async () => {
      await sendInTurn('q', [msg('low'), msg('high-1', { priority: 5 }), msg('mid', { priority: 2 }), msg('high-2', { priority: 5 }), msg('neg', { priority: -3 }), msg('low-2')]);
      expect(ids(await claim('q', 2))).toEqual(['high-1', 'high-2']);
      expect(ids(await claim('q', 10))).toEqual(['mid', 'low', 'low-2', 'neg']);
    });

    it('lets a high priority message overtake a due backlog, but not wait for one not yet due', async () => {
      await sendInTurn('q', [msg('b1'), msg('b2'), msg('b3'), msg('later', { priority: 9, deliverAt: clock.now() + 60_000 }), msg('urgent', { priority: 1 })]);
      expect(ids(await claim('q', 1))).toEqual(['urgent']);
      expect(ids(await claim('q', 1))).toEqual(['b1']);
      clock.advance(60_000);
      expect(ids(await claim('q', 1))).toEqual(['later']);
    });

    it('takes every due delivery across the priorities when a claim comes up short, past leases and messages scheduled later', async () => {
      const later = clock.now() + 60_000;
      await sendInTurn('q', [9, 2, 0, -3].map((priority) => msg(`later${priority}`, { priority, deliverAt: later })));
      await sendInTurn('q', [msg('a', { priority: 2 }), msg('b'), msg('c', { priority: -3 }), msg('d', { priority: 9 })]);
      expect(ids(await claim('q', 1))).toEqual(['d']);
      expect(ids(await claim('q', 10))).toEqual(['a', 'b', 'c']);
      expect(await claim('q', 10)).toEqual([]);
      // The leases ran out before the later messages came due: each is taken over ahead of them, in its own priority.
      clock.advance(60_000);
      expect(ids(await claim('q', 10))).toEqual(['d', 'later9', 'a', 'later2', 'b', 'later0', 'c', 'later-3']);
    });

    it('wakes a queue at its earliest due delivery whatever its priority, a lease at its end, and not for an expired message', async () => {
      const start = clock.now();
      expect(await store.nextWakeAt('q')).toBeNull();
      await store.send('q', [msg('high-late', { priority: 9, deliverAt: start + 30_000 }), msg('low-soon', { priority: -3, deliverAt: start + 10_000 })]);
      expect(await store.nextWakeAt('q')).toBe(start + 10_000);
      await store.send('q', [msg('gone', { priority: 0, deliverAt: start + 1_000, expiresAt: start + 2_000 })]);
      clock.advance(5_000);
      // `gone` expired while not yet claimed: the next wake is still low-soon's.
      expect(await store.nextWakeAt('q')).toBe(start + 10_000);
      await store.send('q', [msg('now', { priority: 4 })]);
      expect(await store.nextWakeAt('q')).toBe(clock.now());
      expect(ids(await claim('q', 1))).toEqual(['now']);
      const nowLeaseEnds = clock.now() + LEASE;
      expect(await store.nextWakeAt('q')).toBe(start + 10_000);
      clock.advance(25_000);
      expect(ids(await claim('q', 10))).toEqual(['high-late', 'low-soon']);
      // All three in flight: the queue is due again when the first lease runs out.
      expect(await store.nextWakeAt('q')).toBe(nowLeaseEnds);
    });

    it('keeps the priority when a message is retried: a retried high priority message goes first when due', async () => {
      await sendInTurn('q', [msg('high', { priority: 4 }), msg('b1'), msg('b2')]);
      const first = await claim('q', 1);
      await settle(first, { kind: 'retry', availableAt: clock.now() + 1_000, reason: 'HTTP 500' });
      expect(ids(await claim('q', 1))).toEqual(['b1']);
      clock.advance(1_000);
      expect(ids(await claim('q', 1))).toEqual(['high']);
    });

    it('shows priority and expiry on the message, in views and in search', async () => {
      const expiresAt = clock.now() + 10_000;
      await store.send('q', [msg('p', { priority: 7, expiresAt }), msg('plain')]);
      expect((await view('p')).message).toMatchObject({ priority: 7, expiresAt });
      expect((await view('plain')).message).toMatchObject({ priority: 0, expiresAt: null });
      const page = await store.listMessages({ channel: 'q' }, { limit: 10 });
      expect(page.items.map((i) => [i.message.id, i.message.priority, i.message.expiresAt])).toEqual([['plain', 0, null], ['p', 7, expiresAt]]);
      expect((await claim('q', 1))[0]!.deliveries[0]!.message).toMatchObject({ id: 'p', priority: 7, expiresAt });
    });

    it('takes priority and expiry through the outbox too', async () => {
      await harness.sendWithin(store, 'q', [msg('o-low')], 'commit');
      clock.advance(1);
      await harness.sendWithin(store, 'q', [msg('o-high', { priority: 3, expiresAt: clock.now() + 1_000 })], 'commit');
      expect((await view('o-high')).message).toMatchObject({ priority: 3, expiresAt: clock.now() + 1_000 });
      expect(ids(await claim('q', 1))).toEqual(['o-high']);
      await expect(harness.sendWithin(store, 'f', [msg('o-f', { key: 'k', priority: 1 })], 'rollback')).rejects.toMatchObject({ code: 'invalid_request' });
    });

    it('refuses priority and expiry on fifo queues and topics, and a priority out of range', async () => {
      await expect(store.send('f', [msg('a', { key: 'k', priority: 1 })])).rejects.toMatchObject({ code: 'invalid_request', message: expect.stringContaining('priority') });
      await expect(store.send('f', [msg('b', { key: 'k', expiresAt: clock.now() + 1 })])).rejects.toMatchObject({ code: 'invalid_request', message: expect.stringContaining('expir') });
      await expect(store.send('t', [msg('c', { priority: -1 })])).rejects.toMatchObject({ code: 'invalid_request' });
      await expect(store.send('t', [msg('d', { expiresAt: clock.now() + 1 })])).rejects.toMatchObject({ code: 'invalid_request' });
      await expect(store.send('q', [msg('e', { priority: 101 })])).rejects.toMatchObject({ code: 'invalid_request' });
      await expect(store.send('q', [msg('g', { priority: 1.5 })])).rejects.toMatchObject({ code: 'invalid_request' });
      // Times no Date holds: stored, they could never be shown (or, on PostgreSQL, not stored at all).
      for (const [id, fields] of [['far-e', { expiresAt: 9e15 }], ['inf-e', { expiresAt: Infinity }], ['nan-e', { expiresAt: NaN }], ['far-d', { deliverAt: 9e15 }], ['inf-d', { deliverAt: -Infinity }]] as const) {
        await expect(store.send('q', [msg(id, fields)]), id).rejects.toMatchObject({ code: 'invalid_request', details: { errors: [{ path: Object.keys(fields)[0] }] } });
        expect(await store.getMessage(id), id).toEqual([]);
      }
      expect(await store.send('q', [msg('latest', { expiresAt: 8_640_000_000_000_000, deliverAt: 8_639_999_999_999_999 })])).toMatchObject([{ duplicate: false }]);
      // Priority 0 and no expiry are what every fifo and topic message has.
      expect(await store.send('f', [msg('h', { key: 'k', priority: 0, expiresAt: null })])).toMatchObject([{ duplicate: false }]);
    });

    it('never claims an expired message; expire dead-letters it with reason expired and no attempt', async () => {
      await store.send('q', [msg('x', { expiresAt: clock.now() + 1_000 }), msg('keep', { expiresAt: clock.now() + 5_000 })]);
      clock.advance(1_000);
      expect(await store.nextWakeAt('q')).toBeLessThanOrEqual(clock.now());
      expect(ids(await claim('q', 10))).toEqual(['keep']);
      expect(await store.nextWakeAt('q')).not.toBeLessThanOrEqual(clock.now());
      expect(await store.expire(100)).toEqual([{ target: 'q', messageId: 'x' }]);
      expect(await store.expire(100)).toEqual([]);
      const [d] = (await view('x')).deliveries;
      expect(d).toMatchObject({ status: 'deadlettered', lastError: 'expired', attempts: 0, availableAt: null });
      expect(d!.history).toEqual([]);
      expect((await store.listDeadLetters('q', { limit: 10 })).items.map((i) => [i.message.id, i.lastError])).toEqual([['x', 'expired']]);
      expect(await stat('q')).toMatchObject({ depth: 1, inFlight: 1, deadLettered: 1 });
    });

    it('expires messages of a paused queue, and scheduled ones whose deliverAt is past their expiry', async () => {
      await store.send('q', [msg('late', { deliverAt: clock.now() + 60_000, expiresAt: clock.now() + 1_000 }), msg('paused', { expiresAt: clock.now() + 1_000 })]);
      await store.setPaused('q', true);
      clock.advance(999);
      expect(await store.expire(100)).toEqual([]);
      clock.advance(1);
      expect((await store.expire(100)).map((e) => e.messageId).sort()).toEqual(['late', 'paused']);
      expect(await stat('q')).toMatchObject({ depth: 0, inFlight: 0, deadLettered: 2 });
    });

    it('lets a message in flight finish its attempt; only an expired lease is expired', async () => {
      await store.send('q', [msg('done', { expiresAt: clock.now() + 1_000 }), msg('lost', { expiresAt: clock.now() + 1_000 })]);
      const claims = await claim('q', 2);
      clock.advance(2_000);
      expect(await store.expire(100)).toEqual([]);
      const done = claims.filter((c) => c.deliveries[0]!.message.id === 'done');
      expect(await settle(done, { kind: 'delivered' })).toEqual(['ok']);
      expect((await view('done')).deliveries[0]!.status).toBe('delivered');
      clock.advance(LEASE);
      expect(await store.expire(100)).toEqual([{ target: 'q', messageId: 'lost' }]);
      expect((await view('lost')).deliveries[0]).toMatchObject({ status: 'deadlettered', lastError: 'expired', attempts: 1 });
      expect(await stat('q')).toMatchObject({ depth: 0, inFlight: 0, deadLettered: 1, delivered: 1 });
      // The stale holder's settlement changes nothing.
      const lost = claims.filter((c) => c.deliveries[0]!.message.id === 'lost');
      expect(await settle(lost, { kind: 'delivered' })).toEqual(['fenced']);
    });

    it("applies a queue's ttl from when a message is due, unless the message has its own expiry", async () => {
      const now = clock.now();
      await store.send('ttl', [msg('a'), msg('b', { deliverAt: now + 60_000 }), msg('c', { expiresAt: now + 100_000 })]);
      expect((await view('a', 'ttl')).message.expiresAt).toBe(now + 5_000);
      expect((await view('b', 'ttl')).message.expiresAt).toBe(now + 65_000);
      expect((await view('c', 'ttl')).message.expiresAt).toBe(now + 100_000);
      // A message due at the latest time a Date holds expires then, not a ttl past it (no Date, no view).
      await store.send('ttl', [msg('latest', { deliverAt: 8_640_000_000_000_000 })]);
      expect((await view('latest', 'ttl')).message.expiresAt).toBe(8_640_000_000_000_000);
      // Declaring again changes the ttl of messages stored from then on.
      await store.declare([{ name: 'ttl', kind: 'queue', ttlMs: null }]);
      await store.send('ttl', [msg('d')]);
      expect((await view('d', 'ttl')).message.expiresAt).toBeNull();
      clock.advance(5_000);
      expect(await store.expire(100)).toEqual([{ target: 'ttl', messageId: 'a' }]);
    });

    it('redrives an expired message with its time to live again, counted from the redrive', async () => {
      await store.send('q', [msg('x', { deliverAt: clock.now() + 1_000, expiresAt: clock.now() + 4_000 })]);
      clock.advance(10_000);
      await store.expire(100);
      expect(await store.redrive('q', ['x'])).toBe(1);
      const redriven = await view('x');
      expect(redriven.deliveries[0]).toMatchObject({ status: 'queued', attempts: 0, lastError: null });
      expect(redriven.message.expiresAt).toBe(clock.now() + 3_000);
      expect(ids(await claim('q'))).toEqual(['x']);
      expect(await stat('q')).toMatchObject({ depth: 1, deadLettered: 0 });
    });

    it('redrives a dead letter that expires at the latest time a Date holds no later than that', async () => {
      await store.send('q', [msg('last', { expiresAt: 8_640_000_000_000_000 })]);
      await settle(await claim('q'), { kind: 'deadletter', reason: 'refused' });
      clock.advance(60_000);
      expect(await store.redrive('q', ['last'])).toBe(1);
      expect((await view('last')).message.expiresAt).toBe(8_640_000_000_000_000);
      expect((await view('last')).deliveries[0]).toMatchObject({ status: 'queued', attempts: 0 });
    });

    it('redrives an expired message that is not claimed in time into expiry again', async () => {
      await store.send('q', [msg('x', { expiresAt: clock.now() + 1_000 })]);
      clock.advance(1_000);
      await store.expire(100);
      await store.redrive('q');
      clock.advance(999);
      expect(await store.expire(100)).toEqual([]);
      clock.advance(1);
      expect(await store.expire(100)).toEqual([{ target: 'q', messageId: 'x' }]);
    });

    it('expires at most the limit in one call', async () => {
      await store.send('q', Array.from({ length: 5 }, (_, i) => msg(`m${i}`, { expiresAt: clock.now() + 10 + i })));
      clock.advance(100);
      expect((await store.expire(3)).map((e) => e.messageId)).toEqual(['m0', 'm1', 'm2']);
      expect((await store.expire(3)).map((e) => e.messageId)).toEqual(['m3', 'm4']);
    });
  });
}
