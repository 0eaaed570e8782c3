import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterEach } from 'vitest';
import type { ChannelDeclaration } from '../../src/storage/port.js';
import { createPostgresStore, type PostgresStore } from '../../src/storage/postgres/index.js';
import { migrate } from '../../src/storage/postgres/migrations.js';

/** The PostgreSQL server integration tests run against. Override with OFFLOAD_TEST_PG_URL. */
export const TEST_PG_URL = process.env.OFFLOAD_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/**
 * Whether the PostgreSQL tests can run. Unreachable in CI is a failure, never a skip; on a
 * workstation without a server the tests are skipped with a warning.
 */
export async function postgresAvailable(): Promise<boolean> {
  const client = new pg.Client({ connectionString: TEST_PG_URL, connectionTimeoutMillis: 5_000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch (error) {
    const message = `PostgreSQL is not reachable at ${TEST_PG_URL} (set OFFLOAD_TEST_PG_URL): ${(error as Error).message}`;
    if (process.env.CI) throw new Error(message);
    console.warn(`skipping PostgreSQL tests: ${message}`);
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

/** A fresh schema name for one test. */
export function testSchema(): string {
  return `offload_t_${randomBytes(6).toString('hex')}`;
}

export async function dropSchema(schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: TEST_PG_URL });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end();
  }
}

/** Resolves once a backend matching `where` (by pid, or by text in its current query) waits for a lock. */
export async function waitForLockWait(where: { pid: number } | { queryContains: string }, timeoutMs = 10_000): Promise<void> {
  const client = new pg.Client({ connectionString: TEST_PG_URL });
  await client.connect();
  try {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const { rows } = 'pid' in where
        ? await client.query(`SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND wait_event_type = 'Lock'`, [where.pid])
        : await client.query(`SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND strpos(query, $1) > 0`, [where.queryContains]);
      if (rows.length > 0) return;
      if (Date.now() > deadline) throw new Error(`no backend waiting for a lock (${JSON.stringify(where)})`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  } finally {
    await client.end();
  }
}

/** Brings `schema` up to migration `upTo` (all of them when omitted), as an instance of that version would at start. */
export async function migrateSchemaTo(schema: string, upTo?: number): Promise<void> {
  const pool = new pg.Pool({ connectionString: TEST_PG_URL, max: 1 });
  try {
    const client = await pool.connect();
    try {
      await migrate(client, schema, upTo);
    } finally {
      client.release();
    }
  } finally {
    await pool.end();
  }
}

/** A store on a schema of its own, and a connection of the test's own on that schema (as an application's). */
export interface StoreWithClient {
  store: PostgresStore;
  app: pg.Client;
  schema: string;
}

/**
 * Registers, in the calling describe block, the teardown of what the returned function opens:
 * a store on a fresh, migrated schema with `declarations` declared (no NOTIFY), and a client
 * whose search_path is that schema. After each test both are closed and the schema dropped.
 */
export function useStoreWithClient(): (declarations: readonly ChannelDeclaration[], options?: { poolSize?: number }) => Promise<StoreWithClient> {
  let opened: StoreWithClient | undefined;
  afterEach(async () => {
    if (!opened) return;
    const { store, app, schema } = opened;
    opened = undefined;
    await app.end().catch(() => undefined);
    await store.close();
    await dropSchema(schema);
  });
  return async (declarations, options = {}) => {
    const schema = testSchema();
    const store = createPostgresStore({ url: TEST_PG_URL, schema, notify: false, poolSize: options.poolSize ?? 4 });
    const app = new pg.Client({ connectionString: TEST_PG_URL });
    opened = { store, app, schema };
    await store.migrate();
    await store.declare(declarations);
    await app.connect();
    await app.query(`SET search_path TO "${schema}"`);
    return opened;
  };
}
