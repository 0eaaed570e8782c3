import { describe, it } from 'vitest';
import { createPostgresStore } from '../../src/storage/postgres/index.js';
import { dropSchema, postgresAvailable, TEST_PG_URL, testSchema } from '../support/postgres.js';
import { describeStoreConformance } from './conformance.js';
import { describeFlowConformance } from './conformance-flow.js';

if (await postgresAvailable()) {
  const openPostgres = async (clock: Parameters<Parameters<typeof describeStoreConformance>[1]>[0]) => {
    const schema = testSchema();
    const store = createPostgresStore({ url: TEST_PG_URL, schema, clock, poolSize: 4 });
    return {
      ...store,
      async close() {
        await store.close();
        await dropSchema(schema);
      },
    };
  };
  describeStoreConformance('postgres', openPostgres);
  describeFlowConformance('postgres', openPostgres);
} else {
  describe.skip('storage conformance: postgres (no server)', () => it('needs PostgreSQL'));
}
