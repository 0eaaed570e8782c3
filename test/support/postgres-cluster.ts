import pg from 'pg';
import { afterEach } from 'vitest';
import type { ChannelDeclaration } from '../../src/storage/port.js';
import { createPostgresStore, type PostgresStore, type PostgresStoreOptions } from '../../src/storage/postgres/index.js';
import { dropSchema, TEST_PG_URL, testSchema } from './postgres.js';

export interface PostgresCluster {
  schema: string;
  /** Instances on one schema, migrated and declared together, as instances starting at once would be. */
  stores: PostgresStore[];
  /** A plain connection to the same database, for the test's own statements and locks. */
  sql: pg.Client;
}

/**
 * Several stores on one fresh schema, closed and dropped after each test. Call inside a
 * `describe`: it registers the clean-up there.
 */
export function usePostgresCluster(channels: readonly ChannelDeclaration[], options: Partial<PostgresStoreOptions> = {}): (size: number) => Promise<PostgresCluster> {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  return async (size) => {
    const schema = testSchema();
    const stores = Array.from({ length: size }, () => createPostgresStore({ url: TEST_PG_URL, schema, poolSize: 3, ...options }));
    const sql = new pg.Client({ connectionString: TEST_PG_URL });
    await sql.connect();
    cleanups.push(async () => {
      await sql.end();
      for (const store of stores) await store.close();
      await dropSchema(schema);
    });
    await Promise.all(stores.map((store) => store.migrate()));
    await Promise.all(stores.map((store) => store.declare(channels)));
    return { schema, stores, sql };
  };
}
