import { createPurgeSchedule, type Inbox, type InboxOptions } from './inbox.js';

/** The parts of a better-sqlite3 `Database` the inbox uses. */
export interface SqliteDatabaseLike {
  exec(sql: string): unknown;
  prepare(sql: string): { run(...params: unknown[]): { changes: number }; get(...params: unknown[]): unknown };
}

export interface SqliteInboxOptions extends InboxOptions {
  /** Table name; lane positions go in `<table>_lanes`. Default `offload_inbox`. */
  table?: string;
}

// One connection has one transaction at a time: every inbox on a database takes turns.
const turns = new WeakMap<object, Promise<unknown>>();

/**
 * Inbox on SQLite (better-sqlite3). The handler gets the database inside `BEGIN IMMEDIATE`,
 * which also takes SQLite's write lock, so another process on the same file waits for the
 * commit and then sees the id. Within the process, handlers on one database run one at a time:
 * a connection has one transaction, and anything written on it while a handler runs joins that
 * transaction. A write on another connection of this process waits (synchronously, blocking the
 * process) for the write lock the handler holds, and fails with SQLITE_BUSY after its timeout.
 */
export function sqliteInbox<D extends SqliteDatabaseLike>(db: D, options: SqliteInboxOptions = {}): Inbox<D> {
  const tableName = options.table ?? 'offload_inbox';
  if (!/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(tableName)) throw new TypeError(`inbox table ${JSON.stringify(tableName)} must be letters, digits and underscores`);
  const table = `"${tableName}"`;
  db.exec(`CREATE TABLE IF NOT EXISTS ${table} (id TEXT PRIMARY KEY, received_at INTEGER NOT NULL) WITHOUT ROWID;
           CREATE INDEX IF NOT EXISTS "${tableName}_received_at" ON ${table} (received_at);
           CREATE TABLE IF NOT EXISTS "${tableName}_lanes" (lane TEXT PRIMARY KEY, position INTEGER NOT NULL) WITHOUT ROWID`);
  const lanePosition = db.prepare(`SELECT position FROM "${tableName}_lanes" WHERE lane = ?`);
  const advanceLane = db.prepare(`INSERT INTO "${tableName}_lanes" (lane, position) VALUES (?, ?) ON CONFLICT (lane) DO UPDATE SET position = excluded.position`);
  const insert = db.prepare(`INSERT OR IGNORE INTO ${table} (id, received_at) VALUES (?, ?)`);
  const remove = db.prepare(`DELETE FROM ${table} WHERE received_at < ?`);
  const purgeOlderThan = (cutoff: number) => Promise.resolve(remove.run(cutoff).changes);
  const schedule = createPurgeSchedule(options, purgeOlderThan);

  function inTurn<T>(fn: () => Promise<T>): Promise<T> {
    const previous = turns.get(db) ?? Promise.resolve();
    const mine = previous.then(fn, fn);
    turns.set(db, mine.catch(() => undefined));
    return mine;
  }

  return {
    run(key, work) {
      return inTurn(async () => {
        await schedule.due();
        db.exec('BEGIN IMMEDIATE');
        try {
          if (insert.run(key, schedule.now()).changes === 0) {
            db.exec('ROLLBACK');
            return { duplicate: true } as const;
          }
          const value = await work(db);
          db.exec('COMMIT');
          return { duplicate: false, value } as const;
        } catch (error) {
          // A failed COMMIT may already have ended the transaction; ROLLBACK then has nothing to undo.
          try {
            db.exec('ROLLBACK');
          } catch {
            /* no transaction left */
          }
          throw error;
        }
      });
    },
    purge() {
      return inTurn(() => purgeOlderThan(schedule.cutoff()));
    },
    lanes: {
      position: async (_tx, lane) => (lanePosition.get(lane) as { position: number } | undefined)?.position,
      advance: async (_tx, lane, position) => void advanceLane.run(lane, position),
    },
  };
}
