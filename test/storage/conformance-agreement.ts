import { describe, expect, it } from 'vitest';
import { createFakeClock, type FakeClock } from '../../src/domain/clock.js';
import type { Decision } from '../../src/domain/decide.js';
import type { NewMessage } from '../../src/domain/message.js';
import type { Claim, SendResult, Store } from '../../src/storage/port.js';
import { ALL_CHUNK } from '../../src/storage/rows.js';
import { CONFORMANCE_CHANNELS, useConformanceStore } from './conformance-fixture.js';

/**
 * What an adapter's test gives the conformance suite beyond a fresh store: the ways an
 * application or another process reaches the same database.
 */
export interface ConformanceHarness {
  /** A fresh, empty store (its own database file or schema) driven by the clock. */
  open(clock: FakeClock): Promise<Store>;
  /** Another store on the database of `store`, as another process would open it (closed by the caller). */
  peer(store: Store, clock: FakeClock): Promise<Store>;
  /** The outbox: writes messages with an application connection inside its transaction, which then commits or rolls back. */
  sendWithin(store: Store, channel: string, messages: NewMessage[], end: 'commit' | 'rollback'): Promise<SendResult[]>;
  /** Runs one SQL statement on the store's database, as an operator's client would. */
  execute(store: Store, sql: string): Promise<void>;
  /** Runs one query on the store's database that selects one number as `n`, and returns it. */
  count(store: Store, sql: string): Promise<number>;
  /**
   * A store on a database created by the previous schema version's migrations and holding
   * what that version wrote: queue `q` with `m1` delivered (one attempt, HTTP 200), `m2` waiting
   * and `m3` dead-lettered, all created at the clock's time.
   */
  openPrevious(clock: FakeClock): Promise<Store>;
}

/** Cases where the adapters once disagreed, and the parts of the port the wiring relies on. */
export function describeAgreementConformance(adapter: string, harness: ConformanceHarness): void {
  describe(`storage conformance: ${adapter}: both adapters agree`, () => {
    let clock: FakeClock;
    let store: Store;
    const LEASE = 30_000;
    const channels = CONFORMANCE_CHANNELS;
    useConformanceStore(harness.open, (s, c) => {
      store = s;
      clock = c;
    });

    const msg = (id: string, extra: Partial<NewMessage> = {}): NewMessage => ({
      id, key: null, type: 'test.happened', data: JSON.stringify({ id }), metadata: {}, deliverAt: null, ...extra,
    });
    const claim = (target: string, limit = 10, batchSize = 1, owner = 'o1') => store.claim({ target, limit, owner, leaseMs: LEASE, batchSize });
    const ids = (claims: Claim[]) => claims.flatMap((c) => c.deliveries.map((d) => d.message.id));
    const attempt = (n = 1, statusCode = 200) => ({ attempt: n, startedAt: clock.now(), durationMs: 5, statusCode, error: null, response: 'ok' });
    const settle = (claims: Claim[], decision: Decision = { kind: 'delivered' }) =>
      store.settle(claims.flatMap((c) => c.deliveries.map((d) => ({ deliveryId: d.deliveryId, epoch: d.epoch, decision, attempt: attempt(d.attempt), result: 'ok' }))));
    const statsOf = async (name: string) => (await store.stats()).find((s) => s.name === name)!;

    it('keeps delivered and lastSequence as lifetime values through a sweep', async () => {
      await store.send('q', [msg('m1'), msg('m2')]);
      await settle(await claim('q'));
      await store.send('t', [msg('e1'), msg('e2')]);
      for (const target of ['t/a', 't/a', 't/b', 't/b']) await settle(await claim(target));
      clock.advance(1_000);
      expect(await store.sweep(clock.now())).toBe(4);
      expect(await statsOf('q')).toMatchObject({ depth: 0, inFlight: 0, delivered: 2 });
      expect(await statsOf('t/a')).toMatchObject({ depth: 0, delivered: 2, lastSequence: 2 });
      expect(await statsOf('t')).toMatchObject({ lastSequence: 2 });
    });

    it('deletes the attempts of the deliveries a purge or a sweep deletes, and only those', async () => {
      const attempts = () => harness.count(store, 'SELECT COUNT(*) AS n FROM attempts');
      await store.send('q', [msg('d1'), msg('x1'), msg('x2'), msg('w1')]);
      const [d1, x1, x2, w1] = await claim('q');
      await settle([d1!]);
      await settle([x1!, x2!], { kind: 'deadletter', reason: 'HTTP 400' });
      await settle([w1!], { kind: 'retry', availableAt: clock.now() + 60_000, reason: 'HTTP 503' });
      await store.send('t', [msg('e1')]);
      for (const target of ['t/a', 't/b']) await settle(await claim(target));
      expect(await attempts()).toBe(6);
      expect(await store.purgeDeadLetters('q', ['x1'])).toBe(1);
      expect(await attempts()).toBe(5);
      expect(await store.purgeDeadLetters('q')).toBe(1);
      expect(await attempts()).toBe(4);
      clock.advance(1_000);
      expect(await store.sweep(clock.now())).toBe(2);
      expect(await attempts()).toBe(1);
      const [kept] = await store.getMessage('w1');
      expect(kept!.deliveries[0]!.history).toMatchObject([{ attempt: 1, statusCode: 200 }]);
      expect(await harness.count(store, 'SELECT COUNT(*) AS n FROM attempts a WHERE NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.id = a.delivery_id)')).toBe(0);
    });

    it('counts depth, in flight, dead letters and skips through every transition', async () => {
      await store.send('q', [msg('m1'), msg('m2'), msg('m3')]);
      expect(await statsOf('q')).toMatchObject({ depth: 3, inFlight: 0 });
      const [a, b, c] = await claim('q');
      expect(await statsOf('q')).toMatchObject({ depth: 3, inFlight: 3 });
      await settle([a!]);
      await settle([b!], { kind: 'deadletter', reason: 'HTTP 400' });
      await settle([c!], { kind: 'retry', availableAt: clock.now() + 1_000, reason: 'HTTP 503' });
      expect(await statsOf('q')).toMatchObject({ depth: 1, inFlight: 0, delivered: 1, deadLettered: 1 });
      clock.advance(LEASE);
      const again = await claim('q');
      clock.advance(LEASE + 1);
      // A lease taken over stays one delivery in flight.
      const taken = await claim('q', 10, 1, 'o2');
      expect(await statsOf('q')).toMatchObject({ depth: 1, inFlight: 1 });
      expect(await settle(again)).toEqual(['fenced']);
      await store.release(taken.flatMap((x) => x.deliveries));
      expect(await statsOf('q')).toMatchObject({ depth: 1, inFlight: 0 });
      expect(await store.redrive('q')).toBe(1);
      expect(await statsOf('q')).toMatchObject({ depth: 2, deadLettered: 0 });
      await settle(await claim('q'), { kind: 'deadletter', reason: 'HTTP 400' });
      expect(await store.purgeDeadLetters('q')).toBe(2);
      expect(await statsOf('q')).toMatchObject({ depth: 0, inFlight: 0, deadLettered: 0, delivered: 1 });

      await store.send('t', [msg('e1'), msg('e2')]);
      expect(await statsOf('t/a')).toMatchObject({ depth: 2 });
      await settle(await claim('t/a'), { kind: 'stall', availableAt: clock.now() + 1_000, reason: 'HTTP 500' });
      await store.skipLaneHead('t/a', '');
      expect(await statsOf('t/a')).toMatchObject({ depth: 1, skipped: 1, stalledLanes: 0 });
      expect(await store.redeliverSkipped('t/a')).toBe(1);
      expect(await statsOf('t/a')).toMatchObject({ depth: 2, skipped: 0 });
      await store.declare([...channels, { name: 't/late', kind: 'subscription', topic: 't', ordering: 'topic', startFrom: 'beginning' }]);
      expect(await statsOf('t/late')).toMatchObject({ depth: 2, inFlight: 0, oldestAgeMs: 0 });
      clock.advance(5_000);
      expect(await statsOf('t/late')).toMatchObject({ oldestAgeMs: 5_000 });
    });

    it('lists, redrives and purges settled deliveries of a lane by their own status, beside the live ones', async () => {
      // One fifo key holds a delivered, a dead-lettered and a skipped delivery, then one in
      // flight and one waiting; each operation on settled deliveries takes only its status.
      await store.send('f', ['d1', 'x1', 's1', 'l1', 'w1'].map((id) => msg(id, { key: 'k' })));
      await settle(await claim('f'));
      await settle(await claim('f'), { kind: 'deadletter', reason: 'HTTP 400' });
      await settle(await claim('f'), { kind: 'park', reason: 'HTTP 400' });
      expect((await store.skipLaneHead('f', 'k'))?.message.id).toBe('s1');
      expect(ids(await claim('f'))).toEqual(['l1']);
      const listed = async () => ({
        dead: (await store.listDeadLetters('f', { limit: 10 })).items.map((d) => d.message.id),
        skipped: (await store.listSkipped('f', { limit: 10 })).items.map((d) => d.message.id),
      });
      expect(await listed()).toEqual({ dead: ['x1'], skipped: ['s1'] });
      expect(await statsOf('f')).toMatchObject({ depth: 2, inFlight: 1, delivered: 1, deadLettered: 1, skipped: 1 });
      expect(await store.purgeDeadLetters('f')).toBe(1);
      expect(await listed()).toEqual({ dead: [], skipped: ['s1'] });
      expect(await store.redrive('f')).toBe(0);
      expect(await store.redeliverSkipped('f')).toBe(1);
      expect(await listed()).toEqual({ dead: [], skipped: [] });
      expect(await statsOf('f')).toMatchObject({ depth: 3, inFlight: 1, delivered: 1, deadLettered: 0, skipped: 0 });
      expect((await store.getMessage('d1'))[0]!.deliveries[0]).toMatchObject({ status: 'delivered' });
    });

    it('redrives and purges a whole list larger than one chunk, each delivery once, counted and kept in step', async () => {
      const n = ALL_CHUNK + 3;
      const messages = Array.from({ length: n }, (_, i) => msg(`big${i}`));
      for (let i = 0; i < n; i += 1000) await store.send('q', messages.slice(i, i + 1000));
      await settle(await claim('q', n), { kind: 'deadletter', reason: 'HTTP 400' });
      await store.send('q', [msg('live')]);
      expect(await statsOf('q')).toMatchObject({ depth: 1, deadLettered: n });
      expect(await store.redrive('q')).toBe(n);
      expect(await statsOf('q')).toMatchObject({ depth: n + 1, deadLettered: 0 });
      const again = await claim('q', n + 1);
      expect(ids(again)).toHaveLength(n + 1);
      await settle(again.filter((c) => c.deliveries[0]!.message.id !== 'live'), { kind: 'deadletter', reason: 'HTTP 400' });
      expect(await store.purgeDeadLetters('q')).toBe(n);
      expect(await statsOf('q')).toMatchObject({ deadLettered: 0, inFlight: 1 });
      expect((await store.listDeadLetters('q', { limit: 10 })).items).toEqual([]);
      expect(await store.getMessage('big0')).toEqual([]);
    }, 60_000);

    it('refuses an operator\'s retry or skip of a lane whose head has not failed, changing nothing; takes a retrying head', async () => {
      // A delayed head, a queued head, and a subscription's healthy head: a mistyped key must not hurry or drop them.
      await store.send('f', [msg('y1', { key: 'ky', deliverAt: clock.now() + 3_600_000 }), msg('z1', { key: 'kz' })]);
      await store.send('t', [msg('e1')]);
      for (const [target, lane] of [['f', 'ky'], ['f', 'kz'], ['t/a', '']] as const) {
        await expect(store.retryLane(target, lane)).rejects.toMatchObject({ code: 'conflict', message: expect.stringContaining('has not failed') });
        await expect(store.skipLaneHead(target, lane)).rejects.toMatchObject({ code: 'conflict', message: expect.stringContaining('has not failed') });
      }
      expect((await store.getMessage('y1'))[0]!.deliveries[0]!.status).toBe('scheduled');
      expect(await statsOf('f')).toMatchObject({ depth: 2, skipped: 0 });
      expect(ids(await claim('f'))).toEqual(['z1']);
      // A head that failed and waits for its retry is retried now, with a fresh budget.
      await settle(await claim('t/a'), { kind: 'retry', availableAt: clock.now() + 60_000, reason: 'HTTP 503' });
      expect(await claim('t/a')).toEqual([]);
      expect(await store.retryLane('t/a', '')).toBe(true);
      const again = await claim('t/a');
      expect(ids(again)).toEqual(['e1']);
      expect(again[0]!.deliveries[0]!.attempt).toBe(1);
      // A stalled lane whose head is being tried again: retry and skip wait for the attempt to end.
      await settle(again, { kind: 'stall', availableAt: clock.now() + 1_000, reason: 'HTTP 500' });
      clock.advance(1_000);
      expect(ids(await claim('t/a'))).toEqual(['e1']);
      for (const act of [() => store.retryLane('t/a', ''), () => store.skipLaneHead('t/a', '')]) {
        await expect(act()).rejects.toMatchObject({ code: 'conflict', message: expect.stringContaining('being delivered right now') });
      }
    });

    it('reports the same results for a batch in one lane that ends in a stall', async () => {
      await store.send('t', [msg('e1'), msg('e2'), msg('e3')]);
      const stall = (): Decision => ({ kind: 'stall', availableAt: clock.now() + 1_000, reason: 'HTTP 500' });
      expect(await settle(await claim('t/a', 1, 3), stall())).toEqual(['blocked', 'ok', 'ok']);
      clock.advance(1_000);
      expect(await settle(await claim('t/a', 1, 3), stall())).toEqual(['ok', 'ok', 'ok']);
      clock.advance(1_000);
      const [batch] = await claim('t/a', 1, 3);
      const results = await store.settle(batch!.deliveries.map((d, i) => ({
        deliveryId: d.deliveryId, epoch: d.epoch, attempt: attempt(d.attempt), decision: i === 0 ? { kind: 'delivered' as const } : stall(),
      })));
      expect(results).toEqual(['ok', 'ok', 'ok']);
      expect((await store.getLane('t/a', ''))!.state).toBe('stalled');
    });

    it('claims plain queue messages oldest first', async () => {
      await store.send('q', [msg('late', { deliverAt: clock.now() + 1_000 })]);
      await store.send('q', [msg('a'), msg('b')]);
      await store.send('q', [msg('c')]);
      clock.advance(2_000);
      expect(ids(await claim('q', 3))).toEqual(['a', 'b', 'c']);
      expect(ids(await claim('q', 3))).toEqual(['late']);
    });

    it('refuses NUL characters and stores nothing', async () => {
      for (const bad of [msg('n\u0000'), msg('n1', { data: '"\u0000"' }), msg('n2', { key: 'k\u0000' }), msg('n3', { type: 't\u0000' })]) {
        await expect(store.send('q', [bad])).rejects.toMatchObject({ code: 'invalid_request' });
      }
      expect(await statsOf('q')).toMatchObject({ depth: 0 });
    });

    it('refuses to break the status/availability invariant, whoever writes', async () => {
      await store.send('q', [msg('m1')]);
      await expect(harness.execute(store, `UPDATE deliveries SET available_at = NULL WHERE status = 'ready'`)).rejects.toThrow(/constraint/i);
      await expect(harness.execute(store, `UPDATE deliveries SET status = 'lost'`)).rejects.toThrow(/constraint/i);
      expect(ids(await claim('q'))).toEqual(['m1']);
    });

    it('sees a pause made by another process on the same database', async () => {
      await store.send('q', [msg('m1')]);
      await store.send('t', [msg('e1')]);
      const peer = await harness.peer(store, clock);
      try {
        await peer.setPaused('q', true);
        await peer.setPaused('t', true);
        expect(await claim('q')).toEqual([]);
        expect(await claim('t/a')).toEqual([]);
        expect(await statsOf('q')).toMatchObject({ paused: true });
        await peer.setPaused('q', false);
        await peer.setPaused('t', false);
        expect(ids(await claim('q'))).toEqual(['m1']);
        expect(ids(await claim('t/a'))).toEqual(['e1']);
      } finally {
        await peer.close();
      }
    });

    it('writes through the outbox: committed once, rolled back never, never to a subscription', async () => {
      expect(await harness.sendWithin(store, 'q', [msg('o1')], 'commit')).toEqual([{ id: 'o1', status: 'queued', duplicate: false }]);
      expect(await harness.sendWithin(store, 'q', [msg('o2')], 'rollback')).toHaveLength(1);
      expect((await harness.sendWithin(store, 'q', [msg('o1')], 'commit'))[0]).toMatchObject({ duplicate: true });
      expect((await harness.sendWithin(store, 't', [msg('e1')], 'commit'))[0]).toMatchObject({ sequence: 1 });
      await expect(harness.sendWithin(store, 't/a', [msg('x')], 'commit')).rejects.toMatchObject({ code: 'not_found' });
      expect(ids(await claim('q'))).toEqual(['o1']);
      expect(ids(await claim('t/a'))).toEqual(['e1']);
      expect(await store.getMessage('o2')).toEqual([]);
      expect(await store.getMessage('x')).toEqual([]);
      expect(await statsOf('q')).toMatchObject({ depth: 1 });
    });

    it('the outbox refuses what the API refuses that only it could hand a store: data that is not JSON or not valid Unicode, ids the API would not take; undefined metadata fields are absent', async () => {
      for (const [message, field] of [
        [msg('bad-json', { data: '{not json' }), 'data'],
        [msg('lone', { data: '"\ud800"' }), 'data'],
        [msg('..'), 'id'],
        [msg('x'.repeat(201)), 'id'],
      ] as const) {
        await expect(harness.sendWithin(store, 'q', [message], 'commit'), field).rejects.toMatchObject({ code: 'invalid_request', details: { errors: [{ path: field }] } });
      }
      // A missing type is told by the outbox's own rule (the API's 1-200 characters), not a store's wider one.
      const untyped = { ...msg('untyped'), type: undefined as unknown as string };
      await expect(harness.sendWithin(store, 'q', [untyped], 'commit')).rejects.toMatchObject({ code: 'invalid_request', message: expect.stringContaining('type: use 1-200 printable ASCII characters') });
      expect(await statsOf('q')).toMatchObject({ depth: 0 });
      const optional = msg('opt', { metadata: { tenantId: undefined, headers: { 'x-team': 'billing', 'x-gone': undefined as unknown as string } } });
      expect(await harness.sendWithin(store, 'q', [optional], 'commit')).toEqual([{ id: 'opt', status: 'queued', duplicate: false }]);
      expect((await store.getMessage('opt'))[0]!.message.metadata).toEqual({ headers: { 'x-team': 'billing' } });
    });

    it('wakes listeners with the targets of a send by the time it is answered, not for a duplicate', async () => {
      const woken: string[][] = [];
      const stop = store.onWake((targets) => woken.push([...targets].sort()));
      try {
        await store.send('q', [msg('w1')]);
        expect(woken).toEqual([['q']]);
        await store.send('t', [msg('e1')]);
        expect(woken).toEqual([['q'], ['t/a', 't/b']]);
        await store.send('q', [msg('w1')]);
        expect(woken).toHaveLength(2);
      } finally {
        stop();
      }
    });

    it('tells hold listeners the targets a pause stopped or a seek moved, by the time it is answered; a resume tells them nothing', async () => {
      const held: string[][] = [];
      const stop = store.onHold((targets) => held.push([...targets].sort()));
      try {
        await store.setPaused('q', true);
        await store.setPaused('t', true);
        await store.setPaused('t/a', true);
        expect(held).toEqual([['q'], ['t/a', 't/b'], ['t/a']]);
        await store.setPaused('q', false);
        await store.setPaused('t', false);
        await store.setPaused('t/a', false);
        expect(held).toHaveLength(3);
        await store.send('t', [msg('e1')]);
        await store.seek('t/b', { sequence: 1 });
        expect(held).toEqual([['q'], ['t/a', 't/b'], ['t/a'], ['t/b']]);
      } finally {
        stop();
      }
    });

    it('finds a message by id on one channel or on all', async () => {
      await store.send('q', [msg('m1')]);
      await store.send('f', [msg('m1', { key: 'k' })]);
      expect((await store.getMessage('m1')).map((v) => v.message.channel).sort()).toEqual(['f', 'q']);
      const [only, ...rest] = await store.getMessage('m1', 'f');
      expect(rest).toEqual([]);
      expect(only!.deliveries.map((d) => d.target)).toEqual(['f']);
      await expect(store.getMessage('m1', 'nope')).rejects.toMatchObject({ code: 'not_found' });
      await expect(store.ping()).resolves.toBeUndefined();
    });

    it('keeps a fenced attempt in the history, marked, with its outcome', async () => {
      await store.send('q', [msg('m1')]);
      const stale = await claim('q', 10, 1, 'slow');
      clock.advance(LEASE + 1);
      const fresh = await claim('q', 10, 1, 'other');
      const d = stale[0]!.deliveries[0]!;
      expect(await store.settle([{ deliveryId: d.deliveryId, epoch: d.epoch, decision: { kind: 'delivered' }, attempt: attempt(1, 200), result: 'ok' }])).toEqual(['fenced']);
      expect(await settle(fresh)).toEqual(['ok']);
      const [view] = await store.getMessage('m1');
      expect(view!.deliveries[0]).toMatchObject({ status: 'delivered', attempts: 2 });
      expect(view!.deliveries[0]!.history).toEqual([
        { attempt: 1, startedAt: expect.any(Number), durationMs: 5, statusCode: 200, error: null, response: 'ok', fenced: true },
        { attempt: 2, startedAt: expect.any(Number), durationMs: 5, statusCode: 200, error: null, response: 'ok' },
      ]);
    });

    it('refuses what the API would refuse, whoever sends it (the outbox, a library caller): no key on a fifo queue, a delayed topic event, no type, data that is not text', async () => {
      const refused: Array<[string, NewMessage, string]> = [
        ['f', msg('f1'), 'key'],
        ['t', msg('t1', { deliverAt: clock.now() + 60_000 }), 'deliverAt'],
        ['q', { ...msg('q1'), type: undefined as unknown as string }, 'type'],
        ['q', { ...msg('q2'), id: 'has space' }, 'id'],
        ['q', { ...msg('q3'), data: undefined as unknown as string }, 'data'],
        ['q', msg('q4', { key: '' }), 'key'],
        // Metadata as the API checks it: headers a message may set, a W3C traceparent, string fields.
        ['q', msg('q6', { metadata: { headers: { 'x-a': 'v\r\nX-Evil: 1' } } }), 'metadata.headers.x-a'],
        ['q', msg('q7', { metadata: { headers: { 'bad name': 'v' } } }), 'metadata.headers.bad name'],
        ['q', msg('q8', { metadata: { headers: { Authorization: 'Bearer x' } } }), 'metadata.headers.Authorization'],
        ['q', msg('q9', { metadata: { traceparent: 'garbage' } }), 'metadata.traceparent'],
        ['q', msg('q10', { metadata: { tenantId: 7 as unknown as string } }), 'metadata.tenantId'],
        ['q', msg('q11', { metadata: { colour: 'blue' } as never }), 'metadata.colour'],
        ['q', msg('q12', { metadata: JSON.parse('{"headers":{"__proto__":"v"}}') as never }), 'metadata.headers.__proto__'],
      ];
      for (const [channel, message, field] of refused) {
        await expect(store.send(channel, [message]), `${channel} ${field}`).rejects.toMatchObject({ code: 'invalid_request', details: { errors: [{ path: field }] } });
      }
      expect((await store.stats()).filter((s) => ['q', 'f', 't/a'].includes(s.name)).map((s) => s.depth)).toEqual([0, 0, 0]);
      // A fifo message with its key, a topic event without delay, a queue message with a delay: taken.
      await store.send('f', [msg('f2', { key: 'k' })]);
      await store.send('t', [msg('t2')]);
      await store.send('q', [msg('q5', { deliverAt: clock.now() + 60_000 })]);
      await store.send('q', [msg('q13', { metadata: { tenantId: 't1', traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', headers: { 'X-Request-Source': 'billing' } } })]);
    });

    it('refuses a page cursor it did not give out, the same on every store; reads the ones it did', async () => {
      await store.send('q', [msg('m1'), msg('m2'), msg('m3')]);
      await settle(await claim('q'), { kind: 'deadletter', reason: 'HTTP 400' });
      const first = await store.listDeadLetters('q', { limit: 2 });
      expect(first.items).toHaveLength(2);
      expect((await store.listDeadLetters('q', { limit: 2, cursor: first.next! })).items).toHaveLength(1);
      for (const cursor of ['1e20', '-1', '0x10', '0', '1.5', ' 5', '99999999999999999999', 'abc']) {
        await expect(store.listDeadLetters('q', { limit: 2, cursor }), cursor).rejects.toMatchObject({ code: 'invalid_request' });
        await expect(store.listSkipped('t/a', { limit: 2, cursor }), cursor).rejects.toMatchObject({ code: 'invalid_request' });
      }
    });

    it('ends a page early past 4 MiB of data, with next going on exactly (dead letters, parked lanes, message search)', async () => {
      const big = (id: string, key: string | null = null) => msg(id, { key, data: JSON.stringify({ id, pad: 'x'.repeat(250_000) }) });
      const ids24 = Array.from({ length: 24 }, (_, i) => `b${String(i).padStart(2, '0')}`);
      await store.send('q', ids24.map((id) => big(id)));
      await settle(await claim('q', 24), { kind: 'deadletter', reason: 'HTTP 400' });
      await store.send('f', ids24.map((id) => big(`f${id}`, `k${id}`)));
      await settle(await claim('f', 24), { kind: 'park', reason: 'HTTP 500' });
      const lists = [
        (cursor?: string) => store.listDeadLetters('q', { limit: 100, ...(cursor ? { cursor } : {}) }),
        (cursor?: string) => store.listBlockedLanes('f', { limit: 100, ...(cursor ? { cursor } : {}) }),
        (cursor?: string) => store.listMessages({ channel: 'q' }, { limit: 100, ...(cursor ? { cursor } : {}) }),
      ];
      for (const list of lists) {
        const seen: string[] = [];
        let cursor: string | undefined;
        let pages = 0;
        do {
          const page = await list(cursor);
          pages++;
          expect(page.items.length).toBeGreaterThan(0);
          expect(page.items.length).toBeLessThanOrEqual(17);
          seen.push(...page.items.map((item) => ('head' in item ? item.head!.message.id : item.message.id)));
          cursor = page.next ?? undefined;
        } while (cursor !== undefined);
        expect(pages).toBe(2);
        expect(seen.sort()).toEqual(ids24.map((id) => (seen[0]!.startsWith('f') ? `f${id}` : id)));
      }
    });

    it('records nothing for an attempt settled again (a repeated completion is no new call), on queues and on lanes', async () => {
      await store.send('q', [msg('m1'), msg('m2')]);
      await store.send('f', [msg('m3', { key: 'k' }), msg('m4', { key: 'k' })]);
      const [q1, q2] = await claim('q', 2);
      const [f1] = await claim('f', 1);
      const once = (c: Claim, decision: Decision = { kind: 'delivered' }) => {
        const d = c.deliveries[0]!;
        return { deliveryId: d.deliveryId, epoch: d.epoch, decision, attempt: attempt(1, 200), result: 'ok' };
      };
      const retry: Decision = { kind: 'retry', availableAt: clock.now() + 60_000, reason: 'HTTP 503' };
      expect(await store.settle([once(q1!), once(q2!, retry), once(f1!)])).toEqual(['ok', 'ok', 'ok']);
      expect(await store.settle([once(q1!), once(q2!, retry), once(f1!)])).toEqual(['fenced', 'fenced', 'fenced']);
      // The settling step of a lane, too.
      expect((await store.settleAndClaim([once(f1!)], { target: 'f', limit: 1, owner: 'o', leaseMs: LEASE })).results).toEqual(['fenced']);
      for (const id of ['m1', 'm2', 'm3']) {
        const [view] = await store.getMessage(id);
        expect(view!.deliveries[0]!.history).toHaveLength(1);
        expect(view!.deliveries[0]!.history[0]).not.toHaveProperty('fenced');
      }
    });
  });

  describe(`storage conformance: ${adapter}: upgrade`, () => {
    it('migrates a database written by the previous schema version and works on it', async () => {
      const clock = createFakeClock();
      const store = await harness.openPrevious(clock);
      try {
        await store.migrate();
        await store.declare([{ name: 'q', kind: 'queue' }]);
        expect((await store.stats()).find((s) => s.name === 'q')).toMatchObject({ depth: 1, inFlight: 0, delivered: 1, deadLettered: 1 });
        expect((await store.getMessage('m1'))[0]!.deliveries[0]).toMatchObject({ status: 'delivered', history: [expect.objectContaining({ statusCode: 200 })] });
        const claims = await store.claim({ target: 'q', limit: 10, owner: 'o', leaseMs: 30_000 });
        expect(claims.flatMap((c) => c.deliveries.map((d) => d.message.id))).toEqual(['m2']);
        expect(await store.redrive('q')).toBe(1);
        expect((await store.stats()).find((s) => s.name === 'q')).toMatchObject({ depth: 2, inFlight: 1, deadLettered: 0 });
      } finally {
        await store.close();
      }
    });
  });
}
