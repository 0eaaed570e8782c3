import { createPurgeSchedule, type Inbox, type InboxOptions } from './inbox.js';
import { retryAfter } from './outcomes.js';

/** The parts of a `pg` client the inbox uses; a `pg.PoolClient` fits. */
export interface PgClientLike {
  query(text: string, values?: unknown[]): Promise<{ rowCount: number | null; rows: unknown[] }>;
  release(error?: Error | boolean): void;
}

/** A `pg.Pool`, or anything that hands out clients the same way. */
export interface PgPoolLike<C extends PgClientLike> {
  connect(): Promise<C>;
}

export interface PostgresInboxOptions extends InboxOptions {
  /** Table name, optionally schema-qualified (`app.offload_inbox`); lane positions go in `<table>_lanes`. Default `offload_inbox`. */
  table?: string;
  /** Create the table (and `<table>_lanes`, which `inOrder` needs) if it does not exist, on first use. Default true. */
  createTable?: boolean;
  /**
   * How long a duplicate waits, in seconds, for an earlier delivery of its id that is still
   * running; then it is answered 503 + Retry-After (retry later). Bounded so that repeats of a
   * message whose handler hangs cannot each hold a pool client until the pool is used up.
   * Default 30 (Offload's default call timeout: a longer wait outlasts the call it answers).
   */
  lockWait?: number;
}

/**
 * Inbox on PostgreSQL. The handler's transaction starts by inserting the message id; a
 * duplicate of an id that another transaction is still handling waits on that row's lock (the
 * primary key), then sees the committed row and is answered as a duplicate, or, if the first
 * rolled back, runs itself. So two deliveries of one id never both run.
 */
export function postgresInbox<C extends PgClientLike>(pool: PgPoolLike<C>, options: PostgresInboxOptions = {}): Inbox<C> {
  const table = quoteTable(options.table ?? 'offload_inbox');
  const indexName = `"${(options.table ?? 'offload_inbox').split('.').pop()!}_received_at"`;
  const lanesTable = quoteTable(`${options.table ?? 'offload_inbox'}_lanes`);
  let ready: Promise<void> | undefined;
  const ensureTable = () =>
    (ready ??= options.createTable === false
      ? Promise.resolve()
      : withClient(pool, async (client) => {
          await client.query(`CREATE TABLE IF NOT EXISTS ${table} (id text PRIMARY KEY, received_at bigint NOT NULL)`);
          await client.query(`CREATE INDEX IF NOT EXISTS ${indexName} ON ${table} (received_at)`);
          await client.query(`CREATE TABLE IF NOT EXISTS ${lanesTable} (lane text PRIMARY KEY, position bigint NOT NULL)`);
        }).catch((error: unknown) => {
          ready = undefined;
          // Another process created it at the same moment: the table is there, which is all we need.
          if (isCode(error, '23505') || isCode(error, '42P07')) return;
          throw error;
        }));
  const purgeOlderThan = (cutoff: number) =>
    withClient(pool, async (client) => (await client.query(`DELETE FROM ${table} WHERE received_at < $1`, [cutoff])).rowCount ?? 0);
  const schedule = createPurgeSchedule(options, purgeOlderThan);
  const lockWaitMs = Math.round((options.lockWait ?? 30) * 1000);
  if (!(lockWaitMs >= 1) || !Number.isSafeInteger(lockWaitMs)) throw new RangeError('inbox lockWait must be a number of seconds above 0');

  return {
    async run(key, work) {
      await ensureTable();
      await schedule.due();
      const client = await pool.connect();
      let broken: Error | undefined;
      try {
        await client.query('BEGIN');
        try {
          // Only the wait behind an earlier delivery of the id is bounded; the handler's own statements get the usual timeout back.
          await client.query(`SET LOCAL lock_timeout = ${lockWaitMs}`);
          const inserted = await client
            .query(`INSERT INTO ${table} (id, received_at) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING`, [key, schedule.now()])
            .catch((error: unknown) => {
              throw isCode(error, '55P03') ? retryAfter(1, 'an earlier delivery of this message is still being handled') : error;
            });
          await client.query('SET LOCAL lock_timeout TO DEFAULT');
          if (inserted.rowCount === 0) {
            await client.query('ROLLBACK');
            return { duplicate: true };
          }
          const value = await work(client);
          await client.query('COMMIT');
          return { duplicate: false, value };
        } catch (error) {
          await client.query('ROLLBACK').catch((rollbackError: unknown) => {
            // A client that cannot roll back must not go back to the pool in a transaction.
            broken = rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError));
          });
          throw error;
        }
      } finally {
        client.release(broken);
      }
    },
    async purge() {
      await ensureTable();
      return purgeOlderThan(schedule.cutoff());
    },
    lanes: {
      async position(tx, lane) {
        const { rows } = await tx.query(`SELECT position FROM ${lanesTable} WHERE lane = $1 FOR UPDATE`, [lane]);
        const row = rows[0] as { position: string } | undefined;
        return row === undefined ? undefined : Number(row.position);
      },
      async advance(tx, lane, position) {
        await tx.query(`INSERT INTO ${lanesTable} (lane, position) VALUES ($1, $2) ON CONFLICT (lane) DO UPDATE SET position = excluded.position`, [lane, position]);
      },
    },
  };
}

async function withClient<C extends PgClientLike, T>(pool: PgPoolLike<C>, fn: (client: C) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    return await fn(client);
  } finally {
    client.release();
  }
}

function quoteTable(name: string): string {
  const parts = name.split('.');
  if (parts.length > 2 || parts.some((p) => !/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(p))) {
    throw new TypeError(`inbox table ${JSON.stringify(name)} must be a name or schema.name of letters, digits and underscores`);
  }
  return parts.map((p) => `"${p}"`).join('.');
}

function isCode(error: unknown, code: string): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === code;
}
