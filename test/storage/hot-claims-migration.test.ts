import { describe, expect, it } from 'vitest';
import { createFakeClock } from '../../src/domain/clock.js';
import type { NewMessage } from '../../src/domain/message.js';
import type { Decision } from '../../src/domain/decide.js';
import type { Claim, ClaimRequest, Settlement } from '../../src/storage/port.js';
import { createPostgresStore } from '../../src/storage/postgres/index.js';
import { dropSchema, migrateSchemaTo, postgresAvailable, TEST_PG_URL, testSchema } from '../support/postgres.js';

const pgUp = await postgresAvailable();
const msg = (id: string, key: string | null = null): NewMessage => ({ id, key, type: 'test.happened', data: '{}', metadata: {}, deliverAt: null });
const ids = (claims: Claim[]) => claims.flatMap((c) => c.deliveries.map((d) => d.message.id));

/*
 * Migration 25 moves the indexes of `deliveries` onto generated columns computed from the rows
 * already there. Deliveries waiting, in flight and dead-lettered when the schema is upgraded
 * under a running instance go on as if nothing happened: the leases taken before settle, the
 * queue's order and the fifo's lanes hold, and the dead letter is listed and purged.
 */
describe('deliveries across PostgreSQL migration 25 (indexes on generated columns)', () => {
  it.skipIf(!pgUp)('waiting, in-flight and dead-lettered deliveries from before the upgrade go on after it', async () => {
    const schema = testSchema();
    await migrateSchemaTo(schema, 24);
    const clock = createFakeClock(1_700_000_000_000);
    const store = createPostgresStore({ url: TEST_PG_URL, schema, clock, poolSize: 1, autoMigrate: false });
    const settle = (claims: Claim[], decision: Decision): Settlement[] => claims.flatMap((c) => c.deliveries.map((d) => ({
      deliveryId: d.deliveryId, epoch: d.epoch, decision, result: null,
      attempt: { attempt: d.attempt, startedAt: clock.now(), durationMs: 1, statusCode: decision.kind === 'delivered' ? 200 : 400, error: null, response: null },
    })));
    try {
      await store.declare([{ name: 'q', kind: 'queue' }, { name: 'f', kind: 'fifo' }]);
      await store.send('q', ['m1', 'm2', 'm3', 'm4'].map((id) => msg(id)));
      await store.send('f', [msg('a1', 'a'), msg('b1', 'b'), msg('a2', 'a')]);
      const queue: ClaimRequest = { target: 'q', limit: 2, owner: 'o', leaseMs: 30_000 };
      const fifo: ClaimRequest = { target: 'f', limit: 2, owner: 'o', leaseMs: 30_000 };
      const [m1, m2] = await store.claim(queue);
      expect(ids([m1!, m2!])).toEqual(['m1', 'm2']);
      await store.settle(settle([m1!], { kind: 'deadletter', reason: 'HTTP 400' }));
      const lanes = await store.claim(fifo);
      expect(ids(lanes).sort()).toEqual(['a1', 'b1']);

      // Another instance upgrades the schema while m2, a1 and b1 are in flight.
      await migrateSchemaTo(schema);

      const queued = await store.settleAndClaim(settle([m2!], { kind: 'delivered' }), queue);
      expect(queued.results).toEqual(['ok']);
      expect(ids(queued.claims)).toEqual(['m3', 'm4']);
      const next = await store.settleAndClaim(settle(lanes, { kind: 'delivered' }), fifo);
      expect(next.results).toEqual(['ok', 'ok']);
      expect(ids(next.claims)).toEqual(['a2']);
      expect(await store.claim(fifo)).toEqual([]);

      const dead = await store.listDeadLetters('q', { limit: 10 });
      expect(dead.items.map((d) => d.message.id)).toEqual(['m1']);
      expect(await store.purgeDeadLetters('q')).toBe(1);
      expect((await store.listDeadLetters('q', { limit: 10 })).items).toEqual([]);
      expect((await store.stats()).find((s) => s.name === 'f')).toMatchObject({ inFlight: 1 });
    } finally {
      await store.close();
      await dropSchema(schema);
    }
  });
});
