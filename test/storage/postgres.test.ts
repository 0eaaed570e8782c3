import pg from 'pg';
import { describe, it } from 'vitest';
import type { FakeClock } from '../../src/domain/clock.js';
import type { Store } from '../../src/storage/port.js';
import { createPostgresStore, type PostgresStore } from '../../src/storage/postgres/index.js';
import { migrate } from '../../src/storage/postgres/migrations.js';
import { dropSchema, postgresAvailable, TEST_PG_URL, testSchema } from '../support/postgres.js';
import { describeStoreConformance } from './conformance.js';
import { describeFlowConformance } from './conformance-flow.js';
import { describeSlotConformance } from './conformance-slots.js';

const stores = new WeakMap<Store, PostgresStore>();

/** A store on its own schema, dropped when the store closes. */
function openOwned(schema: string, clock: FakeClock): Store {
  const store = createPostgresStore({ url: TEST_PG_URL, schema, clock, poolSize: 4 });
  const owned: Store = {
    ...store,
    async close() {
      await store.close();
      await dropSchema(schema);
    },
  };
  stores.set(owned, store);
  return owned;
}

/** An application's own connection to the store's database. */
async function withClient<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: TEST_PG_URL });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** An operator's client on the store's schema. */
const inSchemaOf = <T>(store: Store, work: (client: pg.Client) => Promise<T>): Promise<T> =>
  withClient(async (client) => {
    await client.query(`SET search_path TO "${stores.get(store)!.schema}"`);
    return work(client);
  });

if (await postgresAvailable()) {
  describeStoreConformance('postgres', async (clock) => openOwned(testSchema(), clock), {
    open: async (clock) => openOwned(testSchema(), clock),
    peer: async (store, clock) => createPostgresStore({ url: TEST_PG_URL, schema: stores.get(store)!.schema, clock, poolSize: 2 }),
    sendWithin: (store, channel, messages, end) =>
      withClient(async (client) => {
        await client.query('BEGIN');
        try {
          const results = await stores.get(store)!.sendWithin(client, channel, messages);
          await client.query(end === 'commit' ? 'COMMIT' : 'ROLLBACK');
          return results;
        } catch (error) {
          await client.query('ROLLBACK');
          throw error;
        }
      }),
    execute: (store, sql) => inSchemaOf(store, async (client) => void (await client.query(sql))),
    count: (store, sql) => inSchemaOf(store, async (client) => Number((await client.query<{ n: string }>(sql)).rows[0]!.n)),
    openPrevious: async (clock) => {
      const schema = testSchema();
      const pool = new pg.Pool({ connectionString: TEST_PG_URL, max: 1 });
      try {
        const client = await pool.connect();
        try {
          await migrate(client, schema, 5); // the schema before fenced attempts and target counters
          const t = clock.now();
          await client.query(`SET search_path TO "${schema}";
            INSERT INTO channels (id, name, kind, topic_id, ordering, created_at) VALUES (1, 'q', 'queue', NULL, 'none', ${t});
            SELECT setval('channels_id_seq', 1);
            INSERT INTO messages (pk, channel_id, id, key, type, data, metadata, created_at) VALUES
              (1, 1, 'm1', NULL, 'test', '{}', '{}', ${t}), (2, 1, 'm2', NULL, 'test', '{}', '{}', ${t}), (3, 1, 'm3', NULL, 'test', '{}', '{}', ${t});
            SELECT setval('messages_pk_seq', 3);
            INSERT INTO deliveries (id, message_pk, target_id, lane, position, status, attempts, available_at, updated_at) VALUES
              (1, 1, 1, NULL, 1, 'delivered', 1, NULL, ${t}), (2, 2, 1, NULL, 2, 'ready', 0, ${t}, ${t}), (3, 3, 1, NULL, 3, 'deadlettered', 1, NULL, ${t});
            SELECT setval('deliveries_id_seq', 3);
            INSERT INTO attempts (delivery_id, attempt, started_at, duration_ms, status_code, error, response) VALUES (1, 1, ${t}, 5, 200, NULL, 'ok');`);
        } finally {
          client.release();
        }
      } finally {
        await pool.end();
      }
      return openOwned(schema, clock);
    },
  });
  describeFlowConformance('postgres', async (clock) => openOwned(testSchema(), clock));
  describeSlotConformance('postgres', async (clock) => openOwned(testSchema(), clock), async (store, clock) =>
    createPostgresStore({ url: TEST_PG_URL, schema: stores.get(store)!.schema, clock, poolSize: 2 }),
  );
} else {
  describe.skip('storage conformance: postgres (no server)', () => it('needs PostgreSQL'));
}
