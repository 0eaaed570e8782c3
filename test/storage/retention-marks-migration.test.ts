import Database from 'better-sqlite3';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { createFakeClock } from '../../src/domain/clock.js';
import type { Store } from '../../src/storage/port.js';
import { createPostgresStore } from '../../src/storage/postgres/index.js';
import { migrate as migratePostgres } from '../../src/storage/postgres/migrations.js';
import { migrate as migrateSqlite } from '../../src/storage/sqlite/migrations.js';
import { createSqliteStore } from '../../src/storage/sqlite/sqlite-store.js';
import { dropSchema, postgresAvailable, TEST_PG_URL, testSchema } from '../support/postgres.js';
import { tempDir } from '../support/temp.js';

const pgUp = await postgresAvailable();
const T = 1_700_000_000_000;
/**
 * Topics swept before the retention marks existed: `gone` lost 1-2 (kept 3-5), `held` lost 4-5
 * while 1-3 wait for a subscription, `empty` lost everything, `whole` lost nothing.
 */
const TOPICS: Array<{ id: number; name: string; last: number; kept: number[] }> = [
  { id: 1, name: 'gone', last: 5, kept: [3, 4, 5] },
  { id: 2, name: 'held', last: 5, kept: [1, 2, 3] },
  { id: 3, name: 'empty', last: 3, kept: [] },
  { id: 4, name: 'whole', last: 3, kept: [1, 2, 3] },
];
const EXPECTED_KEPT_FROM = { gone: 3, held: 6, empty: 4, whole: 1 };

function legacyRows(): string {
  const channels = TOPICS.map((t) => `(${t.id}, '${t.name}', 'topic', NULL, 'none', ${T}, ${t.last})`).join(', ');
  const messages = TOPICS.flatMap((t) => t.kept.map((seq) => `(${t.id * 100 + seq}, ${t.id}, '${t.name}-${seq}', NULL, 'x', '{}', '{}', ${T + seq * 1000}, ${seq})`)).join(', ');
  return `INSERT INTO channels (id, name, kind, topic_id, ordering, created_at, last_sequence) VALUES ${channels};
    INSERT INTO messages (pk, channel_id, id, key, type, data, metadata, created_at, sequence) VALUES ${messages};`;
}

async function keptFrom(store: Store): Promise<Record<string, number | undefined>> {
  return Object.fromEntries((await store.stats()).filter((s) => s.kind === 'topic').map((s) => [s.name, s.keptFrom]));
}

describe('topic retention marks on a store swept before they existed', () => {
  const dir = tempDir();
  afterAll(() => dir.cleanup());

  it('SQLite (migration 13) marks what each topic lost', async () => {
    const path = join(dir.path, 'legacy.db');
    const db = new Database(path);
    migrateSqlite(db, 12);
    db.exec(legacyRows());
    db.close();
    const store = createSqliteStore({ path, clock: createFakeClock(T + 60_000) });
    try {
      expect(await keptFrom(store)).toEqual(EXPECTED_KEPT_FROM);
    } finally {
      await store.close();
    }
  });

  it.skipIf(!pgUp)('PostgreSQL (migration 11) marks what each topic lost', async () => {
    const schema = testSchema();
    const pool = new pg.Pool({ connectionString: TEST_PG_URL, max: 1 });
    try {
      const client = await pool.connect();
      try {
        await migratePostgres(client, schema, 10);
        await client.query(`SET search_path TO "${schema}"; ${legacyRows()} SELECT setval('channels_id_seq', 10);`);
      } finally {
        client.release();
      }
    } finally {
      await pool.end();
    }
    const store = createPostgresStore({ url: TEST_PG_URL, schema, clock: createFakeClock(T + 60_000), poolSize: 2 });
    try {
      expect(await keptFrom(store)).toEqual(EXPECTED_KEPT_FROM);
    } finally {
      await store.close();
      await dropSchema(schema);
    }
  });
});
