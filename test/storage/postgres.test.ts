import { describe, it } from 'vitest';
import { createPostgresStore } from '../../src/storage/postgres/index.js';
import { dropSchema, postgresAvailable, TEST_PG_URL, testSchema } from '../support/postgres.js';
import { describeStoreConformance } from './conformance.js';

if (await postgresAvailable()) {
  describeStoreConformance('postgres', async (clock) => {
    const schema = testSchema();
    const store = createPostgresStore({ url: TEST_PG_URL, schema, clock, poolSize: 4 });
    return {
      ...store,
      async close() {
        await store.close();
        await dropSchema(schema);
      },
    };
  });
} else {
  describe.skip('storage conformance: postgres (no server)', () => it('needs PostgreSQL'));
}
