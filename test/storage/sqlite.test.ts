import Database from 'better-sqlite3';
import { createFakeClock } from '../../src/domain/clock.js';
import { afterAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import type { Store } from '../../src/storage/port.js';
import { ALL_CHUNK } from '../../src/storage/rows.js';
import { migrate } from '../../src/storage/sqlite/migrations.js';
import { createSqliteStore, type SqliteStore } from '../../src/storage/sqlite/sqlite-store.js';
import { tempDir } from '../support/temp.js';
import { describeStoreConformance } from './conformance.js';
import { describeFlowConformance } from './conformance-flow.js';
import { describeSlotConformance } from './conformance-slots.js';

const dir = tempDir();
afterAll(() => dir.cleanup());
let n = 0;
const paths = new WeakMap<Store, string>();

function openAt(path: string, clock: Parameters<typeof createSqliteStore>[0]['clock']): SqliteStore {
  const store = createSqliteStore({ path, clock });
  paths.set(store, path);
  return store;
}

/** An application's own connection to the store's file. */
function withConnection<T>(store: Store, work: (db: Database.Database) => T): T {
  const db = new Database(paths.get(store)!);
  try {
    return work(db);
  } finally {
    db.close();
  }
}

describeStoreConformance('sqlite', async (clock) => openAt(join(dir.path, `store-${n++}.db`), clock), {
  open: async (clock) => openAt(join(dir.path, `store-${n++}.db`), clock),
  peer: async (store, clock) => openAt(paths.get(store)!, clock),
  sendWithin: async (store, channel, messages, end) =>
    withConnection(store, (db) => {
      db.exec('BEGIN IMMEDIATE');
      try {
        const results = (store as SqliteStore).sendWithin(db, channel, messages);
        db.exec(end === 'commit' ? 'COMMIT' : 'ROLLBACK');
        return results;
      } catch (error) {
        db.exec('ROLLBACK');
        throw error;
      }
    }),
  execute: async (store, sql) => withConnection(store, (db) => void db.exec(sql)),
  count: async (store, sql) => withConnection(store, (db) => (db.prepare(sql).get() as { n: number }).n),
  openPrevious: async (clock) => {
    const path = join(dir.path, `previous-${n++}.db`);
    const db = new Database(path);
    migrate(db, 6); // the schema before target counters
    const t = clock.now();
    db.exec(`
      INSERT INTO channels (id, name, kind, topic_id, ordering, created_at, delivered_count) VALUES (1, 'q', 'queue', NULL, 'none', ${t}, 1);
      INSERT INTO messages (pk, channel_id, id, key, type, data, metadata, created_at) VALUES
        (1, 1, 'm1', NULL, 'test', '{}', '{}', ${t}), (2, 1, 'm2', NULL, 'test', '{}', '{}', ${t}), (3, 1, 'm3', NULL, 'test', '{}', '{}', ${t});
      INSERT INTO deliveries (id, message_pk, target_id, lane, position, status, attempts, available_at, updated_at) VALUES
        (1, 1, 1, NULL, 1, 'delivered', 1, NULL, ${t}), (2, 2, 1, NULL, 2, 'ready', 0, ${t}, ${t}), (3, 3, 1, NULL, 3, 'deadlettered', 1, NULL, ${t});
      INSERT INTO attempts (delivery_id, attempt, started_at, duration_ms, status_code, error, response) VALUES (1, 1, ${t}, 5, 200, NULL, 'ok');
    `);
    db.close();
    return openAt(path, clock);
  },
});
describeFlowConformance('sqlite', async (clock) => createSqliteStore({ path: join(dir.path, `store-${n++}.db`), clock }));
describeSlotConformance('sqlite', async (clock) => openAt(join(dir.path, `store-${n++}.db`), clock), async (store, clock) => openAt(paths.get(store)!, clock));

describe('sqlite wake-ups', () => {
  it('names the targets with new work as soon as a send commits', async () => {
    const store = createSqliteStore({ path: join(dir.path, `wake-${n++}.db`) });
    await store.declare([
      { name: 'q', kind: 'queue' },
      { name: 't', kind: 'topic' },
      { name: 't/a', kind: 'subscription', topic: 't', ordering: 'topic' },
      { name: 't/b', kind: 'subscription', topic: 't', ordering: 'key' },
    ]);
    const woken: string[][] = [];
    const stop = store.onWake((targets) => woken.push(targets));
    const message = (id: string) => ({ id, key: null, type: 't', data: '{}', metadata: {}, deliverAt: null });
    await store.send('q', [message('m1')]);
    await store.send('t', [message('e1')]);
    stop();
    await store.send('q', [message('m2')]);
    expect(woken).toEqual([['q'], ['t/a', 't/b']]);
    await store.close();
  });
});

describe('sqlite operations on a whole list', () => {
  it('let the event loop run between chunks of a redrive or purge larger than one', async () => {
    const store = createSqliteStore({ path: join(dir.path, `chunks-${n++}.db`), durability: 'process' });
    await store.declare([{ name: 'q', kind: 'queue' }]);
    const total = ALL_CHUNK + 1;
    for (let i = 0; i < total; i += 1000) {
      await store.send('q', Array.from({ length: Math.min(1000, total - i) }, (_, j) => ({ id: `m${i + j}`, key: null, type: 't', data: '{}', metadata: {}, deliverAt: null })));
    }
    const deadletter = async () => {
      const claims = await store.claim({ target: 'q', limit: total, owner: 'o', leaseMs: 30_000 });
      await store.settle(claims.flatMap((c) => c.deliveries.map((d) => ({
        deliveryId: d.deliveryId, epoch: d.epoch, decision: { kind: 'deadletter' as const, reason: 'HTTP 400' },
        attempt: { attempt: d.attempt, startedAt: Date.now(), durationMs: 1, statusCode: 400, error: null, response: null },
      }))));
    };
    // A turn of the event loop asked for before the operation runs before the operation ends.
    const turnTaken = async (operation: () => Promise<number>) => {
      const order: string[] = [];
      setImmediate(() => order.push('turn'));
      order.push(`done ${await operation()}`);
      await new Promise((resolve) => setImmediate(resolve));
      return order;
    };
    await deadletter();
    expect(await turnTaken(() => store.redrive('q'))).toEqual(['turn', `done ${total}`]);
    await deadletter();
    expect(await turnTaken(() => store.purgeDeadLetters('q'))).toEqual(['turn', `done ${total}`]);
    await store.close();
  });

  it('let the event loop run between the slices of a sweep', async () => {
    const clock = createFakeClock(1_700_000_000_000);
    const store = createSqliteStore({ path: join(dir.path, `sweep-${n++}.db`), durability: 'process', clock });
    await store.declare([{ name: 'q', kind: 'queue' }]);
    const total = 6_000;
    for (let i = 0; i < total; i += 1000) {
      await store.send('q', Array.from({ length: 1000 }, (_, j) => ({ id: `m${i + j}`, key: null, type: 't', data: '{}', metadata: {}, deliverAt: null })));
      const claims = await store.claim({ target: 'q', limit: 1000, owner: 'o', leaseMs: 30_000 });
      await store.settle(claims.flatMap((c) => c.deliveries.map((d) => ({
        deliveryId: d.deliveryId, epoch: d.epoch, decision: { kind: 'delivered' as const },
        attempt: { attempt: d.attempt, startedAt: clock.now(), durationMs: 1, statusCode: 200, error: null, response: null },
      }))));
      clock.advance(1);
    }
    clock.advance(1_000);
    const order: string[] = [];
    setImmediate(() => order.push('turn'));
    order.push(`swept ${await store.sweep(clock.now())}`);
    expect(order).toEqual(['turn', `swept ${total}`]);
    await store.close();
  });
});

describe('sqlite page size', () => {
  const pageSize = (path: string) => {
    const db = new Database(path, { readonly: true });
    try {
      return db.pragma('page_size', { simple: true });
    } finally {
      db.close();
    }
  };

  it('creates a new database with 1 KB pages, and opens an existing one with the pages it has', async () => {
    const fresh = join(dir.path, `pages-${n++}.db`);
    const store = createSqliteStore({ path: fresh });
    await store.declare([{ name: 'q', kind: 'queue' }]);
    await store.send('q', [{ id: 'm1', key: null, type: 't', data: '{"n":1}', metadata: {}, deliverAt: null }]);
    await store.close();
    expect(pageSize(fresh)).toBe(1024);

    const older = join(dir.path, `pages-${n++}.db`);
    const db = new Database(older);
    db.pragma('journal_mode = WAL');
    migrate(db);
    db.close();
    expect(pageSize(older)).toBe(4096);
    const reopened = createSqliteStore({ path: older });
    await reopened.declare([{ name: 'q', kind: 'queue' }]);
    await reopened.send('q', [{ id: 'm1', key: null, type: 't', data: '{"n":1}', metadata: {}, deliverAt: null }]);
    expect((await reopened.claim({ target: 'q', limit: 1, owner: 'o', leaseMs: 1_000 }))[0]?.deliveries[0]?.message.data).toBe('{"n":1}');
    await reopened.close();
    expect(pageSize(older)).toBe(4096);
  });
});

/** A database migrated up to `version` only, with `rows` written by hand in that version's schema. */
function databaseAt(version: number, rows: string): string {
  const path = join(dir.path, `v${version}-${n++}.db`);
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  migrate(db, version);
  db.exec(rows);
  db.close();
  return path;
}

describe('sqlite delivery status invariant', () => {
  it('refuses a delivery row whose available_at does not match its status, on insert and on update, after an upgrade', async () => {
    // Left at the version before the invariant was rewritten, with a ready delivery in it.
    const path = databaseAt(16, `INSERT INTO channels (id, name, kind, created_at) VALUES (1, 'q', 'queue', 0);
      INSERT INTO messages (pk, channel_id, id, type, data, metadata, created_at) VALUES (1, 1, 'm1', 't', '{}', '{}', 0);
      INSERT INTO deliveries (message_pk, target_id, position, status, available_at, updated_at) VALUES (1, 1, 1, 'ready', 0, 0);`);
    const store = createSqliteStore({ path });
    const db = new Database(path);
    try {
      const violates = (sql: string) => expect(() => db.exec(sql)).toThrow(/CHECK constraint failed: deliveries status and available_at/);
      violates(`UPDATE deliveries SET available_at = NULL`);
      violates(`UPDATE deliveries SET status = 'delivered'`);
      violates(`UPDATE deliveries SET status = 'lost'`);
      violates(`INSERT INTO deliveries (message_pk, target_id, lane, position, status, available_at, updated_at) SELECT message_pk, target_id, NULL, 2, 'skipped', 5, 0 FROM deliveries`);
      violates(`INSERT INTO deliveries (message_pk, target_id, lane, position, status, available_at, updated_at) SELECT message_pk, target_id, NULL, 2, 'delivering', NULL, 0 FROM deliveries`);
      db.exec(`UPDATE deliveries SET status = 'skipped', available_at = NULL`);
      db.exec(`UPDATE deliveries SET status = 'ready', available_at = 0`);
    } finally {
      db.close();
    }
    // The row is as the last allowed update left it: ready, and claimed.
    expect((await store.claim({ target: 'q', limit: 1, owner: 'o', leaseMs: 1_000 }))[0]?.deliveries[0]?.message.id).toBe('m1');
    await store.close();
  });
});

describe('sqlite lane states', () => {
  it('keeps the lanes of a database upgraded past the copy of their table, and refuses a state it does not know', async () => {
    // Left at the version before the copy: lane a in flight for an hour, lane b due.
    const until = Date.now() + 3_600_000;
    const path = databaseAt(18, `INSERT INTO channels (id, name, kind, ordering, created_at) VALUES (1, 'f', 'fifo', 'key', 0);
      INSERT INTO messages (pk, channel_id, id, key, type, data, metadata, created_at) VALUES
        (1, 1, 'a1', 'a', 't', '{}', '{}', 0), (2, 1, 'a2', 'a', 't', '{}', '{}', 0), (3, 1, 'b1', 'b', 't', '{}', '{}', 0), (4, 1, 'b2', 'b', 't', '{}', '{}', 0);
      INSERT INTO deliveries (message_pk, target_id, lane, position, status, attempts, epoch, available_at, updated_at) VALUES
        (1, 1, 'a', 1, 'delivering', 1, 1, ${until}, 0), (2, 1, 'a', 2, 'ready', 0, 0, 0, 0), (3, 1, 'b', 3, 'ready', 0, 0, 0, 0), (4, 1, 'b', 4, 'ready', 0, 0, 0, 0);
      INSERT INTO lanes (target_id, lane, state, ready_at, leased_until) VALUES (1, 'a', 'active', ${until}, ${until}), (1, 'b', 'active', 0, NULL);`);
    const store = createSqliteStore({ path });
    const claims = await store.claim({ target: 'f', limit: 10, owner: 'o', leaseMs: 60_000 });
    expect(claims.map((c) => [c.lane, c.deliveries.map((d) => d.message.id)])).toEqual([['b', ['b1']]]);
    await store.close();
    const db = new Database(path);
    try {
      expect(() => db.exec(`UPDATE lanes SET state = 'lost'`)).toThrow(/CHECK constraint failed/);
      expect(db.prepare('SELECT lane, state FROM lanes ORDER BY lane').all()).toEqual([{ lane: 'a', state: 'active' }, { lane: 'b', state: 'active' }]);
    } finally {
      db.close();
    }
  });
});
