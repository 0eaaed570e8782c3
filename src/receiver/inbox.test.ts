import Database from 'better-sqlite3';
import { join } from 'node:path';
import pg from 'pg';
import { describe, expect, it, onTestFinished } from 'vitest';
import { dropSchema, postgresAvailable, TEST_PG_URL, testSchema, waitForLockWait } from '../../test/support/postgres.js';
import { testDir } from '../../test/support/temp.js';
import type { Inbox } from './inbox.js';
import { RetryAfter } from './outcomes.js';
import { postgresInbox } from './postgres-inbox.js';
import { sqliteInbox } from './sqlite-inbox.js';

/** One database for the handler's own writes plus the inbox, behind the same small interface. */
interface Harness {
  inbox: Inbox<unknown>;
  /** The handler's own write, on the transaction the inbox hands over. */
  write(tx: unknown, key: string): Promise<void>;
  effects(): Promise<string[]>;
  inboxRows(): Promise<number>;
  clock: { now: number };
  /** Resolves once a second run of a key waits behind the first (PostgreSQL: on the row lock). */
  waitingBehind(): Promise<void>;
}

async function sqliteHarness(): Promise<Harness> {
  const db = new Database(join(testDir(), 'app.db'));
  onTestFinished(() => void db.close());
  db.exec('CREATE TABLE effects (key TEXT NOT NULL)');
  const clock = { now: 1_000_000 };
  const inbox = sqliteInbox(db, { retention: 3600, purgeInterval: 60, now: () => clock.now });
  return {
    inbox: inbox as Inbox<unknown>,
    clock,
    async write(tx, key) {
      (tx as Database.Database).prepare('INSERT INTO effects (key) VALUES (?)').run(key);
    },
    async effects() {
      return (db.prepare('SELECT key FROM effects ORDER BY rowid').all() as Array<{ key: string }>).map((r) => r.key);
    },
    async inboxRows() {
      return (db.prepare('SELECT count(*) AS n FROM offload_inbox').get() as { n: number }).n;
    },
    waitingBehind: () => Promise.resolve(),
  };
}

async function postgresHarness(): Promise<Harness> {
  const schema = testSchema();
  const pool = new pg.Pool({ connectionString: TEST_PG_URL, max: 4 });
  onTestFinished(async () => {
    await pool.end();
    await dropSchema(schema);
  });
  await pool.query(`CREATE SCHEMA "${schema}"; CREATE TABLE "${schema}".effects (n serial, key text NOT NULL)`);
  const clock = { now: 1_000_000 };
  const inbox = postgresInbox(pool, { table: `${schema}.inbox`, retention: 3600, purgeInterval: 60, now: () => clock.now });
  return {
    inbox: inbox as Inbox<unknown>,
    clock,
    async write(tx, key) {
      await (tx as pg.PoolClient).query(`INSERT INTO "${schema}".effects (key) VALUES ($1)`, [key]);
    },
    async effects() {
      return (await pool.query(`SELECT key FROM "${schema}".effects ORDER BY n`)).rows.map((r) => r.key as string);
    },
    async inboxRows() {
      return Number((await pool.query(`SELECT count(*) AS n FROM "${schema}".inbox`)).rows[0].n);
    },
    waitingBehind: () => waitForLockWait({ queryContains: `"${schema}"."inbox"` }),
  };
}

function deferred(): { promise: Promise<void>; resolve(): void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

const pgUp = await postgresAvailable();

for (const [name, make, skip] of [
  ['SQLite', sqliteHarness, false],
  ['PostgreSQL', postgresHarness, !pgUp],
] as const) {
  describe.skipIf(skip)(`${name} inbox`, () => {
    it('records the id with the handler writes; a repeat is a duplicate that does not run', async () => {
      const h = await make();
      let runs = 0;
      const work = async (tx: unknown) => {
        runs++;
        await h.write(tx, 'k-1');
        return 'done';
      };
      expect(await h.inbox.run('k-1', work)).toEqual({ duplicate: false, value: 'done' });
      expect(await h.inbox.run('k-1', work)).toEqual({ duplicate: true });
      expect(runs).toBe(1);
      expect(await h.effects()).toEqual(['k-1']);
    });

    it('a handler that fails leaves neither its writes nor the id, so the retry runs', async () => {
      const h = await make();
      await expect(
        h.inbox.run('k-1', async (tx) => {
          await h.write(tx, 'k-1');
          throw new Error('crash mid-handler');
        }),
      ).rejects.toThrow('crash mid-handler');
      expect(await h.effects()).toEqual([]);
      expect(await h.inboxRows()).toBe(0);
      expect(await h.inbox.run('k-1', async (tx) => h.write(tx, 'k-1'))).toEqual({ duplicate: false, value: undefined });
      expect(await h.effects()).toEqual(['k-1']);
    });

    it('concurrent duplicates of one id never both run: the second waits and is a duplicate', async () => {
      const h = await make();
      const gate = deferred();
      const started = deferred();
      let runs = 0;
      const first = h.inbox.run('k-1', async (tx) => {
        runs++;
        started.resolve();
        await h.write(tx, 'k-1');
        await gate.promise;
      });
      await started.promise;
      const second = h.inbox.run('k-1', async (tx) => {
        runs++;
        await h.write(tx, 'k-1');
      });
      await h.waitingBehind();
      expect(runs).toBe(1);
      gate.resolve();
      expect(await first).toEqual({ duplicate: false, value: undefined });
      expect(await second).toEqual({ duplicate: true });
      expect(runs).toBe(1);
      expect(await h.effects()).toEqual(['k-1']);
    });

    it('when the first of two concurrent runs rolls back, the waiting one runs', async () => {
      const h = await make();
      const gate = deferred();
      const started = deferred();
      const first = h.inbox.run('k-1', async (tx) => {
        started.resolve();
        await h.write(tx, 'first');
        await gate.promise;
        throw new Error('timed out');
      });
      await started.promise;
      const second = h.inbox.run('k-1', async (tx) => h.write(tx, 'second'));
      await h.waitingBehind();
      gate.resolve();
      await expect(first).rejects.toThrow('timed out');
      expect(await second).toEqual({ duplicate: false, value: undefined });
      expect(await h.effects()).toEqual(['second']);
    });

    it('different ids run side by side; records expire after the retention window', async () => {
      const h = await make();
      await Promise.all(['a', 'b', 'c'].map((k) => h.inbox.run(k, async (tx) => h.write(tx, k))));
      expect(await h.inboxRows()).toBe(3);
      h.clock.now += 1_800_000;
      await h.inbox.run('d', async (tx) => h.write(tx, 'd'));
      expect(await h.inbox.purge()).toBe(0);
      h.clock.now += 1_800_001;
      // The periodic purge runs before this call: a, b and c are past the hour, d is not.
      expect(await h.inbox.run('a', async (tx) => h.write(tx, 'a again'))).toEqual({ duplicate: false, value: undefined });
      expect(await h.inboxRows()).toBe(2);
      expect(await h.inbox.run('d', async (tx) => h.write(tx, 'd again'))).toEqual({ duplicate: true });
      h.clock.now += 3_600_001;
      expect(await h.inbox.purge()).toBe(2);
    });
  });
}

describe.skipIf(!pgUp)('PostgreSQL inbox: a handler that hangs', () => {
  it('repeats of its message wait at most lockWait, then are told to retry later, so they cannot use up the pool', async () => {
    const schema = testSchema();
    const pool = new pg.Pool({ connectionString: TEST_PG_URL, max: 3 });
    const gate = deferred();
    onTestFinished(async () => {
      gate.resolve();
      await pool.end();
      await dropSchema(schema);
    });
    await pool.query(`CREATE SCHEMA "${schema}"`);
    const inbox = postgresInbox(pool, { table: `${schema}.inbox`, lockWait: 0.2 });
    const started = deferred();
    const stuck = inbox.run('stuck', async () => {
      started.resolve();
      await gate.promise;
    });
    await started.promise;
    for (let i = 0; i < 4; i++) await expect(inbox.run('stuck', async () => 'ran')).rejects.toBeInstanceOf(RetryAfter);
    expect(await inbox.run('other', async () => 'ran')).toEqual({ duplicate: false, value: 'ran' });
    // The handler's own statements are not held to lockWait.
    expect(await inbox.run('slow-lock', async (tx) => (await tx.query("SELECT current_setting('lock_timeout') AS t")).rows)).toEqual({ duplicate: false, value: [{ t: '0' }] });
    gate.resolve();
    expect(await stuck).toEqual({ duplicate: false, value: undefined });
  });
});

describe('inbox configuration', () => {
  it('refuses table names that are not plain identifiers', () => {
    const pool = { connect: () => Promise.reject(new Error('unused')) };
    expect(() => postgresInbox(pool, { table: 'x; DROP TABLE y' })).toThrow(/letters, digits and underscores/);
    expect(() => postgresInbox(pool, { table: 'a.b.c' })).toThrow(/schema.name/);
    expect(() => postgresInbox(pool, { retention: 0 })).toThrow(/positive/);
    expect(() => postgresInbox(pool, { retention: Number.NaN })).toThrow(/positive/);
    // NaN would purge on every event.
    expect(() => postgresInbox(pool, { purgeInterval: Number.NaN })).toThrow(/purgeInterval must be a number of seconds/);
    expect(() => postgresInbox(pool, { lockWait: 0 })).toThrow(/lockWait must be a number of seconds above 0/);
  });
});
