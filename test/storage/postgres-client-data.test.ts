import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPostgresStore, type PostgresStore } from '../../src/storage/postgres/index.js';
import { dropSchema, postgresAvailable, TEST_PG_URL, testSchema } from '../support/postgres.js';

const pgUp = await postgresAvailable();

describe.runIf(pgUp)('PostgreSQL: a value the database cannot hold is a client error', () => {
  const schema = testSchema();
  let store: PostgresStore;
  beforeAll(async () => {
    store = createPostgresStore({ url: TEST_PG_URL, schema, poolSize: 2 });
    await store.declare([{ name: 'q', kind: 'queue' }, { name: 'f', kind: 'fifo' }]);
  });
  afterAll(async () => {
    await store.close();
    await dropSchema(schema);
  });

  it('text holding a NUL character, in any operator call, is refused as invalid_request (400), not left a database error (500)', async () => {
    const calls: Array<[string, () => Promise<unknown>]> = [
      ['getMessage', () => store.getMessage('a\u0000b')],
      ['purgeDeadLetters', () => store.purgeDeadLetters('q', ['\u0000'])],
      ['redrive', () => store.redrive('q', ['x\u0000'])],
      ['skipLaneHead', () => store.skipLaneHead('f', 'k\u0000')],
      ['retryLane', () => store.retryLane('f', 'k\u0000')],
    ];
    for (const [name, call] of calls) await expect(call(), name).rejects.toMatchObject({ code: 'invalid_request', message: expect.stringMatching(/cannot be stored/) });
    // Nothing was changed, and the store goes on.
    expect(await store.getMessage('nothing')).toEqual([]);
  });
});
