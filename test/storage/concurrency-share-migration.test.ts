import { describe, expect, it } from 'vitest';
import { createPostgresStore } from '../../src/storage/postgres/index.js';
import { dropSchema, migrateSchemaTo, postgresAvailable, TEST_PG_URL, testSchema } from '../support/postgres.js';

const pgUp = await postgresAvailable();

/*
 * Migration 30 rewrites take_concurrency_slots and hold_concurrency_slots and drops the function
 * they read the share through. Slots held before the upgrade, by an instance that keeps running
 * through it, are counted exactly as before: the limit still holds, the waiting and the owners
 * read the same, and the rows written before are renewed and released.
 */
describe('endpoint slots across PostgreSQL migration 30', () => {
  it.skipIf(!pgUp)('holds taken before the upgrade are shared, renewed and released after it as before', async () => {
    const schema = testSchema();
    await migrateSchemaTo(schema, 29);
    const store = createPostgresStore({ url: TEST_PG_URL, schema, poolSize: 2, autoMigrate: false });
    const take = (owner: string, held: number, count: number) => store.takeConcurrencySlots({ key: 'ep', owner, held, count, limit: 3, ttlMs: 30_000 });
    try {
      expect(await take('a', 0, 2)).toEqual({ granted: 2, total: 2, waiting: 0, owners: 1 });
      expect(await take('b', 0, 2)).toEqual({ granted: 1, total: 3, waiting: 0, owners: 2 });

      await migrateSchemaTo(schema);

      // b wants one more than the limit leaves: none granted, and it is recorded as waiting.
      expect(await take('b', 1, 1)).toEqual({ granted: 0, total: 3, waiting: 0, owners: 2 });
      expect(await store.holdConcurrencySlots('a', [{ key: 'ep', held: 2, wanted: 0 }], 30_000)).toEqual([{ total: 3, waiting: 1, owners: 2 }]);
      // a releases everything: its row goes, and b's slot and wish remain.
      expect(await store.holdConcurrencySlots('a', [{ key: 'ep', held: 0, wanted: 0 }], 30_000)).toEqual([{ total: 1, waiting: 1, owners: 1 }]);
      expect((await store.listConcurrencySlots()).map((h) => [h.owner, h.held, h.wanted])).toEqual([['b', 1, 1]]);
      expect(await take('b', 1, 1)).toEqual({ granted: 1, total: 2, waiting: 0, owners: 1 });
    } finally {
      await store.close();
      await dropSchema(schema);
    }
  });
});
