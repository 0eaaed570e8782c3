import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { createFakeClock } from '../../src/domain/clock.js';
import type { ChannelDeclaration } from '../../src/storage/port.js';
import { createPostgresStore } from '../../src/storage/postgres/index.js';
import { dropSchema, postgresAvailable, TEST_PG_URL, testSchema } from '../support/postgres.js';

const available = await postgresAvailable();

/*
 * A claim of a laned delivery (fifo queues, ordered subscriptions) and the renewal of its lease
 * change no column an index of `deliveries` names, so PostgreSQL rewrites the row in place on its
 * page (a HOT update) and adds no index entry (migration 25). An index that names `status` or
 * `available_at` again, directly or in its predicate, turns every claim back into a rewrite with
 * an entry in each index: this suite counts the HOT updates of one transaction that claims the
 * lanes and renews their leases through the functions the store calls.
 */

const LANES = 10;
const schemas: string[] = [];
afterAll(async () => {
  for (const schema of schemas) await dropSchema(schema);
});

/** A store's schema holding `channel` with three messages on each of LANES keys, all due at `now`. */
async function filled(channel: ChannelDeclaration, now: number, publishTo = channel.name): Promise<string> {
  const schema = testSchema();
  schemas.push(schema);
  const store = createPostgresStore({ url: TEST_PG_URL, schema, clock: createFakeClock(now), notify: false, poolSize: 2 });
  try {
    await store.migrate();
    await store.declare(channel.kind === 'subscription' ? [{ name: publishTo, kind: 'topic' }, channel] : [channel]);
    await store.send(publishTo, Array.from({ length: 3 * LANES }, (_, i) => ({
      id: `m${i}`, key: `k${i % LANES}`, type: 'test.happened', data: '{"n":1}', metadata: {}, deliverAt: null,
    })));
  } finally {
    await store.close();
  }
  return schema;
}

/** Updates of `deliveries` in this transaction so far, and how many of them were HOT. */
async function updates(client: pg.Client, schema: string): Promise<{ all: number; hot: number }> {
  const { rows } = await client.query<{ all: string; hot: string }>(
    `SELECT n_tup_upd AS all, n_tup_hot_upd AS hot FROM pg_stat_xact_user_tables WHERE relid = $1::regclass`, [`"${schema}".deliveries`]);
  return { all: Number(rows[0]!.all), hot: Number(rows[0]!.hot) };
}

async function claimAndRenewInOneTransaction(schema: string, target: string, now: number): Promise<{ claimed: number; afterClaim: { all: number; hot: number }; afterRenewal: { all: number; hot: number } }> {
  const client = new pg.Client({ connectionString: TEST_PG_URL });
  await client.connect();
  try {
    await client.query(`SET search_path TO "${schema}"`);
    await client.query('BEGIN');
    const { rows: [channel] } = await client.query<{ id: string }>('SELECT id FROM channels WHERE name = $1', [target]);
    const { rows: claimed } = await client.query<{ delivery_id: string; epoch: number }>(
      'SELECT delivery_id, epoch FROM claim_lanes($1, $2, $3, 1, 0, $4, $5)', [channel!.id, now, LANES, 'owner-1', now + 30_000]);
    const afterClaim = await updates(client, schema);
    const { rows: lost } = await client.query('SELECT lost FROM renew_leases($1::bigint[], $2::int[], $3, $4)',
      [claimed.map((r) => r.delivery_id), claimed.map((r) => r.epoch), now + 60_000, now + 1_000]);
    expect(lost).toEqual([]);
    const afterRenewal = await updates(client, schema);
    await client.query('COMMIT');
    return { claimed: claimed.length, afterClaim, afterRenewal };
  } finally {
    await client.end();
  }
}

describe.skipIf(!available)('PostgreSQL: claims and renewals of laned deliveries are HOT updates', () => {
  const now = 1_700_000_000_000;

  it('fifo queue: each lane head claimed and renewed in place, with no index entry', async () => {
    const schema = await filled({ name: 'f', kind: 'fifo' }, now);
    const { claimed, afterClaim, afterRenewal } = await claimAndRenewInOneTransaction(schema, 'f', now);
    expect(claimed).toBe(LANES);
    expect(afterClaim).toEqual({ all: LANES, hot: LANES });
    expect(afterRenewal).toEqual({ all: 2 * LANES, hot: 2 * LANES });
  });

  it('key-ordered subscription: the same', async () => {
    const schema = await filled({ name: 't/s', kind: 'subscription', topic: 't', ordering: 'key' }, now, 't');
    const { claimed, afterClaim, afterRenewal } = await claimAndRenewInOneTransaction(schema, 't/s', now);
    expect(claimed).toBe(LANES);
    expect(afterClaim).toEqual({ all: LANES, hot: LANES });
    expect(afterRenewal).toEqual({ all: 2 * LANES, hot: 2 * LANES });
  });
});
