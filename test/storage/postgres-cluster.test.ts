import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import type { NewMessage } from '../../src/domain/message.js';
import type { ChannelDeclaration, Claim, Store } from '../../src/storage/port.js';
import { createPostgresStore, type PostgresStore } from '../../src/storage/postgres/index.js';
import { MIGRATIONS } from '../../src/storage/postgres/migrations.js';
import { dropSchema, postgresAvailable, TEST_PG_URL, testSchema, waitForLockWait } from '../support/postgres.js';
import { usePostgresCluster } from '../support/postgres-cluster.js';
import { until } from '../support/until.js';

const available = await postgresAvailable();

const CHANNELS: ChannelDeclaration[] = [
  { name: 'q', kind: 'queue' },
  { name: 'f', kind: 'fifo' },
  { name: 't', kind: 'topic' },
  { name: 't/a', kind: 'subscription', topic: 't', ordering: 'topic' },
];
const msg = (id: string, key: string | null = null): NewMessage => ({ id, key, type: 'x', data: '{}', metadata: {}, deliverAt: null });
const ids = (claims: Claim[]) => claims.flatMap((c) => c.deliveries.map((d) => d.message.id));
const delivered = (claims: Claim[]) =>
  claims.flatMap((c) => c.deliveries.map((d) => ({
    deliveryId: d.deliveryId, epoch: d.epoch, decision: { kind: 'delivered' as const },
    attempt: { attempt: d.attempt, startedAt: Date.now(), durationMs: 1, statusCode: 200, error: null, response: null },
  })));

describe.skipIf(!available)('PostgreSQL with several instances', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  const cluster = usePostgresCluster(CHANNELS);

  it('migrates exactly once when instances start together', async () => {
    const { schema, sql } = await cluster(5);
    const { rows } = await sql.query(`SELECT version FROM "${schema}".schema_migrations ORDER BY version`);
    expect(rows.map((r: { version: number }) => r.version)).toEqual(MIGRATIONS.map((m) => m.version));
  });

  it('makes a send that meets an emptying settlement wait, then re-creates the lane', async () => {
    const { schema, stores: [store], sql } = await cluster(1);
    await store!.send('f', [msg('a1', 'a')]);
    const [held] = await store!.claim({ target: 'f', limit: 1, owner: 'o', leaseMs: 30_000 });
    // What a settlement of the lane's last delivery does: lock the lane, settle, find it empty...
    await sql.query('BEGIN');
    await sql.query(`SELECT 1 FROM "${schema}".lanes WHERE lane = 'a' FOR UPDATE`);
    await sql.query(`UPDATE "${schema}".deliveries SET status = 'delivered', available_at = NULL WHERE id = $1`, [held!.deliveries[0]!.deliveryId]);
    // ...meanwhile a send for the lane must wait (ON CONFLICT DO NOTHING would not, and the
    // lane would be deleted under its delivery)...
    const sending = store!.send('f', [msg('a2', 'a')]);
    // (pg_stat_activity shows the statement the client sent: the send's function call.)
    await waitForLockWait({ queryContains: `"${schema}".enqueue_messages(` });
    // ...then the settlement deletes the lane and commits; the send re-creates it.
    await sql.query(`DELETE FROM "${schema}".lanes WHERE lane = 'a'`);
    await sql.query('COMMIT');
    await sending;
    expect(ids(await store!.claim({ target: 'f', limit: 1, owner: 'o', leaseMs: 30_000 }))).toEqual(['a2']);
  });

  it('holds the lane row of an uncommitted send, so no emptying settlement can delete it', async () => {
    const { schema, stores: [store], sql } = await cluster(1);
    await store!.send('f', [msg('a1', 'a')]);
    const app = new pg.Client({ connectionString: TEST_PG_URL });
    await app.connect();
    try {
      await app.query('BEGIN');
      await store!.sendWithin(app, 'f', [msg('a2', 'a')]);
      await expect(sql.query(`SELECT 1 FROM "${schema}".lanes WHERE lane = 'a' FOR UPDATE NOWAIT`)).rejects.toMatchObject({ code: '55P03' });
      await app.query('COMMIT');
    } finally {
      await app.end();
    }
  });

  it('never hands one delivery to two instances', async () => {
    const { stores } = await cluster(3);
    const total = 300;
    for (let i = 0; i < total; i += 50) await stores[0]!.send('q', Array.from({ length: 50 }, (_, k) => msg(`m${i + k}`)));
    const seen: string[] = [];
    await Promise.all(stores.map(async (store, n) => {
      while (seen.length < total) {
        const claims = await store.claim({ target: 'q', limit: 7, owner: `i${n}`, leaseMs: 30_000 });
        seen.push(...ids(claims));
        if (claims.length > 0) expect(await store.settle(delivered(claims))).not.toContain('fenced');
      }
    }));
    expect(seen).toHaveLength(total);
    expect(new Set(seen).size).toBe(total);
  });

  it('keeps one delivery in flight per key and every key in order across instances', async () => {
    const { stores } = await cluster(3);
    const keys = Array.from({ length: 8 }, (_, k) => `k${k}`);
    for (let i = 0; i < 15; i++) await stores[i % 3]!.send('f', keys.map((k) => msg(`${k}-${i}`, k)));
    const inFlight = new Set<string>();
    const order = new Map<string, string[]>(keys.map((k) => [k, []]));
    let done = 0;
    await Promise.all(stores.map(async (store, n) => {
      while (done < keys.length * 15) {
        const claims = await store.claim({ target: 'f', limit: 3, owner: `i${n}`, leaseMs: 30_000 });
        for (const c of claims) {
          expect(inFlight.has(c.lane!)).toBe(false);
          inFlight.add(c.lane!);
        }
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 3));
        for (const c of claims) {
          order.get(c.lane!)!.push(...ids([c]));
          inFlight.delete(c.lane!);
          done++;
        }
        if (claims.length > 0) await store.settle(delivered(claims));
      }
    }));
    for (const k of keys) expect(order.get(k)).toEqual(Array.from({ length: 15 }, (_, i) => `${k}-${i}`));
  });

  it('delivers a topic-ordered subscription in sequence order across instances', async () => {
    const { stores } = await cluster(3);
    await Promise.all(stores.map((store, n) => Promise.all(Array.from({ length: 20 }, (_, i) => store.send('t', [msg(`e${n}-${i}`)])))));
    const sequences: number[] = [];
    await Promise.all(stores.map(async (store, n) => {
      while (sequences.length < 60) {
        const claims = await store.claim({ target: 't/a', limit: 1, owner: `i${n}`, leaseMs: 30_000 });
        sequences.push(...claims.flatMap((c) => c.deliveries.map((d) => d.message.sequence!)));
        if (claims.length > 0) await store.settle(delivered(claims));
      }
    }));
    expect(sequences).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
  });

  it('wakes every instance listening when any instance commits a send', async () => {
    const { stores } = await cluster(2);
    const woken: string[][] = [];
    const stop = stores[1]!.onWake((targets) => woken.push(targets));
    cleanups.push(async () => stop());
    await until('the other instance waking', async () => {
      await stores[0]!.send('t', [msg(`e${woken.length}-${randomBytes(3).toString('hex')}`)]);
      return woken.length > 0;
    });
    expect(woken[0]).toEqual(['t/a']);
  });

  it('tells every instance listening for holds when any instance pauses or seeks; a hold is no wake-up', async () => {
    const { stores } = await cluster(2);
    const held: string[][] = [];
    const woken: string[][] = [];
    const stops = [stores[1]!.onHold((targets) => held.push(targets)), stores[1]!.onWake((targets) => woken.push(targets))];
    cleanups.push(async () => stops.forEach((stop) => stop()));
    // The listening connection is up once a pause through the other instance reaches it (the
    // pauses sent before are lost or come later: all of them hold the queue only).
    await until('the other instance hearing a pause', async () => {
      await stores[0]!.setPaused('q', true);
      return held.length > 0;
    });
    await stores[0]!.send('t', [msg('e1')]);
    await stores[0]!.seek('t/a', { sequence: 1 });
    await until('the seek heard', async () => held.some((targets) => targets.includes('t/a')));
    expect(new Set(held.map((targets) => targets.join()))).toEqual(new Set(['q', 't/a']));
    // Nothing was sent to the queue: a hold taken for a wake-up would have woken it.
    expect(woken.flat()).not.toContain('q');
  });
});

describe.skipIf(!available)('PostgreSQL outages', () => {
  it('rejects with StoreUnavailableError while the server cannot be reached', async () => {
    const store = createPostgresStore({ url: 'postgres://postgres@127.0.0.1:1/test', connectionTimeoutMs: 2_000 });
    try {
      await expect(store.ping()).rejects.toMatchObject({ code: 'store_unavailable' });
      await expect(store.send('q', [msg('m1')])).rejects.toMatchObject({ code: 'store_unavailable' });
      await expect(store.claim({ target: 'q', limit: 1, owner: 'o', leaseMs: 1_000 })).rejects.toMatchObject({ code: 'store_unavailable' });
    } finally {
      await store.close();
    }
  });

  it('survives its connections being terminated, and the listener reconnects and wakes everything', async () => {
    const schema = testSchema();
    const application = `offload_test_${randomBytes(4).toString('hex')}`;
    const pool = new pg.Pool({ connectionString: TEST_PG_URL, application_name: application, max: 3 });
    const store: Store & PostgresStore = createPostgresStore({ pool, schema });
    const admin = new pg.Client({ connectionString: TEST_PG_URL });
    await admin.connect();
    const woken: string[][] = [];
    const stop = store.onWake((targets) => woken.push(targets));
    try {
      await store.declare(CHANNELS);
      // The listening connection is up once it hears a notification from elsewhere (a send
      // of the store's own wakes it at commit, whether or not it listens yet).
      await until('the listener hearing a notification', async () => {
        await admin.query('SELECT pg_notify($1, $2)', [`offload_${schema}`, 'q']);
        return woken.length > 0;
      });
      woken.length = 0;
      const terminated = await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1', [application]);
      expect(terminated.rowCount).toBeGreaterThan(1);
      await until('the pool answering again', async () => {
        const error = await store.ping().then(() => null, (e: unknown) => e);
        if (error) expect(error).toMatchObject({ code: 'store_unavailable' });
        return error === null;
      });
      // Notifications sent while the listener was away are lost: after reconnecting it wakes every target.
      await until('every target woken after the reconnect', async () => woken.some((targets) => targets.includes('q') && targets.includes('t/a')));
      expect(await store.send('q', [msg('after')])).toMatchObject([{ id: 'after', duplicate: false }]);
    } finally {
      stop();
      await admin.end();
      await store.close();
      await pool.end();
      await dropSchema(schema);
    }
  });
});

