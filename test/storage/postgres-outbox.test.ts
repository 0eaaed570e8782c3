import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFakeClock, type FakeClock } from '../../src/domain/clock.js';
import type { NewMessage } from '../../src/domain/message.js';
import type { ChannelDeclaration, Claim } from '../../src/storage/port.js';
import { createPostgresStore, type PostgresStore } from '../../src/storage/postgres/index.js';
import { dropSchema, postgresAvailable, TEST_PG_URL, testSchema, waitForLockWait } from '../support/postgres.js';
import { until } from '../support/until.js';

const available = await postgresAvailable();

describe.skipIf(!available)('PostgreSQL transactional outbox (sendWithin)', () => {
  let schema: string;
  let clock: FakeClock;
  let store: PostgresStore;
  let app: pg.Pool;

  const channels: ChannelDeclaration[] = [
    { name: 'q', kind: 'queue' },
    { name: 't', kind: 'topic' },
    { name: 't/a', kind: 'subscription', topic: 't', ordering: 'topic' },
    { name: 't/b', kind: 'subscription', topic: 't', ordering: 'key' },
    { name: 'f', kind: 'fifo' },
  ];

  beforeEach(async () => {
    schema = testSchema();
    clock = createFakeClock();
    store = createPostgresStore({ url: TEST_PG_URL, schema, clock, poolSize: 4 });
    await store.migrate();
    await store.declare(channels);
    app = new pg.Pool({ connectionString: TEST_PG_URL, max: 4 });
    await app.query(`CREATE TABLE "${schema}".orders (id TEXT PRIMARY KEY)`);
  });
  afterEach(async () => {
    await app.end();
    await store.close();
    await dropSchema(schema);
  });

  const msg = (id: string, key: string | null = null): NewMessage => ({ id, key, type: 'order.placed', data: JSON.stringify({ id }), metadata: {}, deliverAt: null });
  const claim = (target: string) => store.claim({ target, limit: 10, owner: 'o', leaseMs: 30_000 });
  const ids = (claims: Claim[]) => claims.flatMap((c) => c.deliveries.map((d) => d.message.id));
  const deliver = (claims: Claim[]) =>
    store.settle(claims.flatMap((c) => c.deliveries.map((d) => ({
      deliveryId: d.deliveryId, epoch: d.epoch, decision: { kind: 'delivered' as const },
      attempt: { attempt: d.attempt, startedAt: clock.now(), durationMs: 1, statusCode: 200, error: null, response: null },
    }))));

  /** The application's unit of work: its own row and the event it raised, in one transaction. */
  async function placeOrder(client: pg.PoolClient, id: string, channel = 'q') {
    await client.query(`INSERT INTO "${schema}".orders (id) VALUES ($1)`, [id]);
    return store.sendWithin(client, channel, [msg(id)]);
  }
  const publishEvent = (client: pg.PoolClient, id: string, key: string) => store.sendWithin(client, 't', [msg(id, key)]);

  /** What `work` answers, or a note that it is still waiting after `ms`, which then fails the comparison and says so. */
  const within = <T>(work: Promise<T>, ms = 5_000): Promise<T | string> =>
    Promise.race([work, new Promise<string>((resolve) => setTimeout(() => resolve(`still waiting after ${ms / 1000} s`), ms).unref())]);
  /** Sends made 20 ms apart (each tick of the store's batcher its own batch), not awaited. */
  async function tickAfterTick(count: number, send: (i: number) => Promise<unknown>): Promise<Promise<unknown>[]> {
    const sends: Promise<unknown>[] = [];
    for (let i = 0; i < count; i++) {
      sends.push(send(i));
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return sends;
  }

  it('publishes nothing when the application rolls back', async () => {
    const client = await app.connect();
    try {
      await client.query('BEGIN');
      await placeOrder(client, 'o1');
      await placeOrder(client, 'o1-event', 't');
      await client.query('ROLLBACK');
    } finally {
      client.release();
    }
    expect(await claim('q')).toEqual([]);
    expect(await store.getMessage('o1')).toEqual([]);
    // The rolled-back publish gave its sequence back: the next event is number 1.
    expect((await store.send('t', [msg('e1')]))[0]!.sequence).toBe(1);
  });

  it('publishes exactly once when the application commits', async () => {
    const client = await app.connect();
    try {
      await client.query('BEGIN');
      expect(await placeOrder(client, 'o1')).toEqual([{ id: 'o1', status: 'queued', duplicate: false }]);
      await client.query('COMMIT');
      await client.query('BEGIN');
      expect((await store.sendWithin(client, 'q', [msg('o1')]))[0]).toMatchObject({ duplicate: true });
      await client.query('COMMIT');
    } finally {
      client.release();
    }
    expect((await app.query(`SELECT id FROM "${schema}".orders`)).rows).toEqual([{ id: 'o1' }]);
    const claims = await claim('q');
    expect(ids(claims)).toEqual(['o1']);
    await deliver(claims);
    expect(await claim('q')).toEqual([]);
  });

  it('refuses a client that is not inside a transaction, storing nothing', async () => {
    const client = await app.connect();
    try {
      await expect(store.sendWithin(client, 'q', [msg('o1')])).rejects.toMatchObject({ code: 'invalid_request' });
    } finally {
      client.release();
    }
    expect(await store.getMessage('o1')).toEqual([]);
  });

  it('hands out topic sequences in commit order: N+1 is never claimable before N commits', async () => {
    const first = await app.connect();
    const second = await app.connect();
    try {
      await first.query('BEGIN');
      await second.query('BEGIN');
      expect((await publishEvent(first, 'e1', 'k1'))[0]!.sequence).toBe(1);
      // The second publisher waits for the first one's topic row lock: it cannot take a
      // sequence, let alone commit, while sequence 1 is uncommitted.
      const secondPublish = publishEvent(second, 'e2', 'k2');
      await waitForLockWait({ pid: (second as unknown as { processID: number }).processID });
      expect(await claim('t/a')).toEqual([]);
      expect(await claim('t/b')).toEqual([]);

      await first.query('COMMIT');
      expect((await secondPublish)[0]!.sequence).toBe(2);
      // The store's own (group-committed) send now waits for the second transaction likewise.
      const storeSend = store.send('t', [msg('e3', 'k3')]);
      await waitForLockWait({ queryContains: `"${schema}".publish_messages(` });
      // Between the commits: 1 is committed and claimable, 2 is taken but not visible. (The
      // topic-ordered 't/a' lane is held by the uncommitted publisher until it commits.)
      const between = await claim('t/b');
      expect(ids(between)).toEqual(['e1']);
      expect(ids(await claim('t/a'))).not.toContain('e2');
      await deliver(between);

      await second.query('COMMIT');
      expect((await storeSend)[0]!.sequence).toBe(3);
      for (const id of ['e1', 'e2', 'e3']) {
        const next = await claim('t/a');
        expect(ids(next)).toEqual([id]);
        await deliver(next);
      }
      expect(ids(await claim('t/b')).sort()).toEqual(['e2', 'e3']);
    } finally {
      first.release();
      second.release();
    }
  });

  it('a send to another channel in the same tick as a publish waiting for the application\'s open transaction commits at once', async () => {
    const client = await app.connect();
    try {
      await client.query('BEGIN');
      await publishEvent(client, 'e1', 'k1');
      // One tick: a publish to the held topic and a send to a queue.
      const publish = store.send('t', [msg('e2', 'k2')]);
      const send = store.send('q', [msg('q1')]);
      await waitForLockWait({ queryContains: `"${schema}".publish_messages(` });
      expect(await within(send)).toEqual([{ id: 'q1', status: 'queued', duplicate: false }]);
      expect(ids(await claim('q'))).toEqual(['q1']);
      await client.query('COMMIT');
      expect((await publish)[0]!.sequence).toBe(2);
    } finally {
      // Whatever happened, the application's transaction ends, so nothing waits on it afterwards.
      await client.query('ROLLBACK').catch(() => undefined);
      client.release();
    }
  });

  it('publishes to a topic held by the application, coming in tick after tick, wait on one connection: the rest of the store goes on', async () => {
    const client = await app.connect();
    try {
      await client.query('BEGIN');
      await publishEvent(client, 'e1', 'k1');
      // More ticks of publishes to the held topic than the store has connections (4).
      const publishes = await tickAfterTick(8, (i) => store.send('t', [msg(`e${i + 2}`, 'k2')]));
      await waitForLockWait({ queryContains: `"${schema}".publish_messages(` });
      const sendAndClaim = async () => [await store.send('q', [msg('q1')]), ids(await claim('q'))];
      expect(await within(sendAndClaim())).toEqual([[{ id: 'q1', status: 'queued', duplicate: false }], ['q1']]);
      await client.query('COMMIT');
      const sequences = (await Promise.all(publishes)).map((r) => (r as { sequence: number }[])[0]!.sequence);
      expect(sequences).toEqual([2, 3, 4, 5, 6, 7, 8, 9]);
    } finally {
      await client.query('ROLLBACK').catch(() => undefined);
      client.release();
    }
  });

  it('sends to a fifo key the application holds, coming in tick after tick, wait on one connection: other keys and channels go on', async () => {
    const client = await app.connect();
    try {
      await client.query('BEGIN');
      await store.sendWithin(client, 'f', [msg('k1-1', 'k1')]);
      const held = await tickAfterTick(8, (i) => store.send('f', [msg(`k1-${i + 2}`, 'k1')]));
      await waitForLockWait({ queryContains: `"${schema}".enqueue_messages(` });
      const others = async () => [await store.send('f', [msg('k2-1', 'k2')]), await store.send('q', [msg('q1')]), ids(await claim('f')), ids(await claim('q'))];
      expect(await within(others())).toEqual([
        [{ id: 'k2-1', status: 'queued', duplicate: false }], [{ id: 'q1', status: 'queued', duplicate: false }], ['k2-1'], ['q1'],
      ]);
      await client.query('COMMIT');
      expect((await Promise.all(held)).flat()).toHaveLength(8);
      const order: string[] = [];
      for (let claims = await claim('f'); claims.length > 0; claims = await claim('f')) {
        order.push(...ids(claims));
        await deliver(claims);
      }
      expect(order).toEqual(['k1-1', 'k1-2', 'k1-3', 'k1-4', 'k1-5', 'k1-6', 'k1-7', 'k1-8', 'k1-9']);
    } finally {
      await client.query('ROLLBACK').catch(() => undefined);
      client.release();
    }
  });

  it('retries settled in one batch with one of a fifo key the application holds: the other keys\' settle, the held one waits for the commit', async () => {
    await store.send('f', [msg('k1-a', 'k1'), msg('k2-a', 'k2')]);
    const inFlight = await claim('f');
    expect(ids(inFlight)).toEqual(['k1-a', 'k2-a']);
    const retry = (id: string) => {
      const d = inFlight.flatMap((c) => c.deliveries).find((x) => x.message.id === id)!;
      return store.settle([{
        deliveryId: d.deliveryId, epoch: d.epoch, decision: { kind: 'retry', availableAt: clock.now() + 60_000, reason: 'HTTP 503' },
        attempt: { attempt: d.attempt, startedAt: clock.now(), durationMs: 1, statusCode: 503, error: null, response: null },
      }]);
    };
    const client = await app.connect();
    try {
      await client.query('BEGIN');
      await store.sendWithin(client, 'f', [msg('k1-b', 'k1')]);
      // Answered in the same turn of the event loop: one batch.
      const held = retry('k1-a');
      const other = retry('k2-a');
      expect(await within(other)).toEqual(['ok']);
      expect(await Promise.race([held.then(() => 'settled'), new Promise((resolve) => setTimeout(() => resolve('waiting'), 100))])).toBe('waiting');
      await client.query('COMMIT');
      expect(await held).toEqual(['ok']);
      expect((await store.getMessage('k1-a'))[0]!.deliveries[0]).toMatchObject({ status: 'retrying', attempts: 1 });
    } finally {
      await client.query('ROLLBACK').catch(() => undefined);
      client.release();
    }
  });

  it('an instance starting while the application holds a topic open declares the same subscriptions without waiting for it', async () => {
    const starting = createPostgresStore({ url: TEST_PG_URL, schema, clock, poolSize: 2 });
    const client = await app.connect();
    try {
      await client.query('BEGIN');
      await publishEvent(client, 'e1', 'k1');
      expect(await within(starting.declare(channels).then(() => 'declared'))).toBe('declared');
      await client.query('COMMIT');
      expect(ids(await starting.claim({ target: 't/a', limit: 10, owner: 'o', leaseMs: 30_000 }))).toEqual(['e1']);
    } finally {
      await client.query('ROLLBACK').catch(() => undefined);
      client.release();
      await starting.close();
    }
  });

  it('a sweep does not wait for a topic the application holds open: it sweeps the other channels and that topic at a later round', async () => {
    await store.send('t', [msg('e0', 'k0')]);
    await store.send('q', [msg('q0')]);
    for (const target of ['t/a', 't/b', 'q']) await deliver(await claim(target));
    clock.advance(1_000);
    const client = await app.connect();
    try {
      await client.query('BEGIN');
      await publishEvent(client, 'e1', 'k1');
      expect(await within(store.sweep(clock.now()), 8_000)).toBe(1);
      expect(await store.getMessage('q0')).toEqual([]);
      expect(await store.getMessage('e0')).toHaveLength(1);
      await client.query('COMMIT');
      expect(await store.sweep(clock.now())).toBe(1);
      expect(await store.getMessage('e0')).toEqual([]);
    } finally {
      await client.query('ROLLBACK').catch(() => undefined);
      client.release();
    }
  });

  it('a write probe does not wait for a topic the application holds open, when the topic is the first channel declared', async () => {
    const own = testSchema();
    const first = createPostgresStore({ url: TEST_PG_URL, schema: own, clock, poolSize: 2 });
    const client = await app.connect();
    try {
      await first.declare([{ name: 'events', kind: 'topic' }, { name: 'events/a', kind: 'subscription', topic: 'events', ordering: 'topic' }]);
      await client.query('BEGIN');
      await first.sendWithin(client, 'events', [msg('e1')]);
      expect(await within(first.probeWrite().then(() => 'written'))).toBe('written');
      await client.query('COMMIT');
    } finally {
      await client.query('ROLLBACK').catch(() => undefined);
      client.release();
      await first.close();
      await dropSchema(own);
    }
  });

  it('renews leases while an application transaction holds a topic lane for longer than the lease', async () => {
    const lease = 30_000;
    await store.send('q', [msg('m1')]);
    await store.send('t', [msg('e1')]);
    const held = [...(await claim('q')), ...(await claim('t/a'))];
    expect(ids(held)).toEqual(['m1', 'e1']);
    const leases = held.flatMap((c) => c.deliveries.map((d) => ({ deliveryId: d.deliveryId, epoch: d.epoch })));
    const client = await app.connect();
    try {
      await client.query('BEGIN');
      // Appends to the lane of 't/a' whose head is in flight: the lane row stays locked until COMMIT.
      await publishEvent(client, 'e2', 'k');
      for (let i = 0; i < 4; i++) {
        clock.advance(lease / 2);
        expect(await store.renew(leases, lease)).toEqual([]);
      }
      // Two leases' worth later, nothing is claimable again: no call is sent a second time.
      const other = (target: string) => store.claim({ target, limit: 10, owner: 'other', leaseMs: lease });
      expect(await other('q')).toEqual([]);
      expect(await other('t/a')).toEqual([]);
      await client.query('COMMIT');
      // The lane's guard could not be extended while it was locked; the head's own lease holds.
      expect(await other('t/a')).toEqual([]);
    } finally {
      client.release();
    }
    expect(await deliver(held)).toEqual(['ok', 'ok']);
    expect(ids(await claim('t/a'))).toEqual(['e2']);
  });

  it('a renewal skips a delivery row someone else has locked, neither waiting nor reporting it lost, and reports a stale lease', async () => {
    const lease = 30_000;
    await store.send('q', [msg('m1'), msg('m2'), msg('m3')]);
    const held = (await claim('q')).flatMap((c) => c.deliveries.map((d) => ({ deliveryId: d.deliveryId, epoch: d.epoch })));
    expect(held).toHaveLength(3);
    const [locked, stale, current] = held as [typeof held[0], typeof held[0], typeof held[0]];
    const client = await app.connect();
    try {
      await client.query('BEGIN');
      // As a settlement or a takeover holds it: the row stays locked until ROLLBACK.
      await client.query(`SELECT 1 FROM "${schema}".deliveries WHERE id = $1 FOR UPDATE`, [locked.deliveryId]);
      expect(await store.renew([locked, { ...stale, epoch: stale.epoch - 1 }, current], lease)).toEqual([stale.deliveryId]);
      await client.query('ROLLBACK');
    } finally {
      client.release();
    }
    // Unlocked, the same lease renews; the stale one stays lost.
    expect(await store.renew([locked, { ...stale, epoch: stale.epoch - 1 }], lease)).toEqual([stale.deliveryId]);
  });

  /** Resolves once the store's LISTEN connection hears commits: an outbox send has woken `woken`'s listener. */
  async function listening(woken: string[][]): Promise<void> {
    for (let i = 0; woken.length === 0; i++) {
      if (i === 100) throw new Error('the listener never heard a commit');
      const client = await app.connect();
      try {
        await client.query('BEGIN');
        await placeOrder(client, `warm-up-${i}`);
        await client.query('COMMIT');
      } finally {
        client.release();
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    woken.length = 0;
  }

  it('wakes listeners when the application commits, not before', async () => {
    const woken: string[][] = [];
    const stop = store.onWake((targets) => woken.push(targets));
    try {
      await listening(woken);
      const client = await app.connect();
      try {
        await client.query('BEGIN');
        await placeOrder(client, 'e1', 't');
        await new Promise((resolve) => setTimeout(resolve, 100));
        expect(woken).toEqual([]);
        await client.query('COMMIT');
      } finally {
        client.release();
      }
      await until('a wake-up', () => woken.length > 0);
      expect(woken).toEqual([['t/a', 't/b']]);
    } finally {
      stop();
    }
  });

  it("wakes its own listeners once per send: a send's notification does not wake the sender again", async () => {
    const woken: string[][] = [];
    const stop = store.onWake((targets) => woken.push(targets));
    try {
      await listening(woken);
      await store.send('q', [msg('own')]);
      // Woken at commit, before the send is answered.
      expect(woken).toEqual([['q']]);
      // Notifications arrive in commit order: once the outbox commit's has come, the send's
      // own would have come before it.
      const client = await app.connect();
      try {
        await client.query('BEGIN');
        await placeOrder(client, 'e1', 't');
        await client.query('COMMIT');
      } finally {
        client.release();
      }
      await until('a second wake-up', () => woken.length > 1);
      expect(woken).toEqual([['q'], ['t/a', 't/b']]);
    } finally {
      stop();
    }
  });
});

