import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { createFakeClock } from '../../src/domain/clock.js';
import type { NewMessage } from '../../src/domain/message.js';
import type { Claim, ClaimRequest, Settlement } from '../../src/storage/port.js';
import { createPostgresStore } from '../../src/storage/postgres/index.js';
import { PUBLISH_FUNCTION_MIGRATION } from '../../src/storage/postgres/publish-function.js';
import { dropSchema, migrateSchemaTo, postgresAvailable, TEST_PG_URL, testSchema } from '../support/postgres.js';

const pgUp = await postgresAvailable();
const msg = (id: string): NewMessage => ({ id, key: null, type: 'test.happened', data: '{}', metadata: {}, deliverAt: null });
const delivered = (claims: Claim[], now: number): Settlement[] => claims.flatMap((c) => c.deliveries.map((d) => ({
  deliveryId: d.deliveryId, epoch: d.epoch, decision: { kind: 'delivered' as const }, result: 'ok',
  attempt: { attempt: d.attempt, startedAt: now, durationMs: 1, statusCode: 200, error: null, response: 'ok' },
})));

/** Runs SQL on the schema (search_path set to it). */
async function onSchema(schema: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: TEST_PG_URL });
  await client.connect();
  try {
    await client.query(`SET search_path TO "${schema}"; ${sql}`);
  } finally {
    await client.end();
  }
}

async function hasClaimFrom(schema: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: TEST_PG_URL });
  await client.connect();
  try {
    const { rows } = await client.query(`SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = $1 AND p.proname = 'claim_lanes_from'`, [schema]);
    return rows.length > 0;
  } finally {
    await client.end();
  }
}

describe('settle-and-claim of lanes across PostgreSQL migration 15', () => {
  it.skipIf(!pgUp)('a lane in flight before the upgrade is moved on and claimed by the new settle_and_claim, in order', async () => {
    const schema = testSchema();
    await migrateSchemaTo(schema, 14);
    const clock = createFakeClock(1_700_000_000_000);
    const store = createPostgresStore({ url: TEST_PG_URL, schema, clock, poolSize: 1, autoMigrate: false });
    try {
      await store.declare([{ name: 't', kind: 'topic' }, { name: 't/a', kind: 'subscription', topic: 't', ordering: 'topic' }]);
      // This store publishes through a function of a later migration: lent for the send only.
      await onSchema(schema, PUBLISH_FUNCTION_MIGRATION);
      await store.send('t', [msg('e1'), msg('e2'), msg('e3')]);
      await onSchema(schema, 'DROP FUNCTION publish_messages');
      const next: ClaimRequest = { target: 't/a', limit: 1, owner: 'o', leaseMs: 30_000 };
      const first = await store.settleAndClaim(delivered(await store.claim(next), clock.now()), next);
      expect(first.claims.flatMap((c) => c.deliveries.map((d) => d.message.id))).toEqual(['e2']);
      // Another instance upgrades the schema while e2 is in flight, on a connection that has run the old function.
      expect(await hasClaimFrom(schema)).toBe(false);
      await migrateSchemaTo(schema);
      expect(await hasClaimFrom(schema)).toBe(true);
      const second = await store.settleAndClaim(delivered(first.claims, clock.now()), next);
      expect(second.results).toEqual(['ok']);
      expect(second.claims.flatMap((c) => c.deliveries.map((d) => d.message.id))).toEqual(['e3']);
      expect(await store.settleAndClaim(delivered(second.claims, clock.now()), next)).toEqual({ results: ['ok'], claims: [] });
      expect(await store.getLane('t/a', '')).toBeNull();
    } finally {
      await store.close();
      await dropSchema(schema);
    }
  });
});
