import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { createFakeClock } from '../../src/domain/clock.js';
import type { NewMessage } from '../../src/domain/message.js';
import type { Claim, Settlement } from '../../src/storage/port.js';
import { createPostgresStore, type PostgresStore } from '../../src/storage/postgres/index.js';
import { dropSchema, postgresAvailable, TEST_PG_URL, testSchema } from '../support/postgres.js';

const available = await postgresAvailable();

const msg = (id: string, key: string | null = null): NewMessage => ({ id, key, type: 'test.happened', data: '{}', metadata: {}, deliverAt: null });
const delivered = (claims: Claim[], now: number): Settlement[] => claims.flatMap((c) => c.deliveries.map((d) => ({
  deliveryId: d.deliveryId, epoch: d.epoch, decision: { kind: 'delivered' as const },
  attempt: { attempt: d.attempt, startedAt: now, durationMs: 1, statusCode: 200, error: null, response: null },
})));

/**
 * The round trips of the ordered paths, counted on the store's own pool (BEGIN and COMMIT are
 * queries too): each is a single call of a lane function, whatever the size of the batch.
 */
describe.skipIf(!available)('PostgreSQL: round trips of the ordered paths', () => {
  let store: PostgresStore | undefined;
  let pool: pg.Pool | undefined;
  let schema = '';
  afterEach(async () => {
    await store?.close();
    await pool?.end();
    await dropSchema(schema);
  });

  async function open(): Promise<{ store: PostgresStore; queries: () => number }> {
    schema = testSchema();
    const clock = createFakeClock();
    pool = new pg.Pool({ connectionString: TEST_PG_URL, max: 2 });
    store = createPostgresStore({ pool, schema, clock, notify: false });
    await store.migrate();
    await store.declare([{ name: 'f', kind: 'fifo' }, { name: 't', kind: 'topic' }, { name: 't/a', kind: 'subscription', topic: 't', ordering: 'topic' }]);
    let count = 0;
    pool.on('acquire', (client: pg.PoolClient & { offloadCounted?: boolean }) => {
      if (client.offloadCounted) return;
      client.offloadCounted = true;
      const query = client.query.bind(client) as (...args: unknown[]) => unknown;
      (client as { query: unknown }).query = (...args: unknown[]) => {
        count++;
        return query(...args);
      };
    });
    return { store, queries: () => count };
  }

  it('an ordered subscription claims once, then each answer and its next claim are one round trip', async () => {
    const { store, queries } = await open();
    await store.send('t', [msg('e1'), msg('e2'), msg('e3')]);
    const next = { target: 't/a', limit: 1, owner: 'o', leaseMs: 30_000 };
    let before = queries();
    let claims = await store.claim(next);
    expect(queries() - before).toBe(1);
    const seen: string[] = [];
    while (claims.length > 0) {
      seen.push(...claims.flatMap((c) => c.deliveries.map((d) => d.message.id)));
      before = queries();
      const step = await store.settleAndClaim(delivered(claims, store.clock.now()), next);
      expect(queries() - before).toBe(1);
      expect(step.results).toEqual(['ok']);
      claims = step.claims;
    }
    expect(seen).toEqual(['e1', 'e2', 'e3']);
  });

  it('a fifo claim of many lanes, and the settlement of all of them, are one round trip each', async () => {
    const { store, queries } = await open();
    await store.send('f', Array.from({ length: 12 }, (_, i) => msg(`m${i}`, `k${i % 6}`)));
    let before = queries();
    const claims = await store.claim({ target: 'f', limit: 10, owner: 'o', leaseMs: 30_000 });
    expect(queries() - before).toBe(1);
    expect(claims).toHaveLength(6);
    before = queries();
    expect(await store.settle(delivered(claims, store.clock.now()))).toEqual(Array.from({ length: 6 }, () => 'ok'));
    expect(queries() - before).toBe(1);
    expect(await store.claim({ target: 'f', limit: 10, owner: 'o', leaseMs: 30_000 })).toHaveLength(6);
  });

  it('a retry, a stall and a park of ordered heads are one round trip each, also when answered with the next claim', async () => {
    const { store, queries } = await open();
    await store.send('f', [msg('a1', 'a'), msg('b1', 'b'), msg('c1', 'c')]);
    const claims = await store.claim({ target: 'f', limit: 10, owner: 'o', leaseMs: 30_000 });
    const now = store.clock.now();
    const [a, b, c] = delivered(claims, now);
    let before = queries();
    expect(await store.settle([{ ...a!, decision: { kind: 'retry', availableAt: now + 1_000, reason: 'HTTP 503' } }])).toEqual(['ok']);
    expect(queries() - before).toBe(1);
    before = queries();
    expect(await store.settle([{ ...b!, decision: { kind: 'stall', availableAt: now + 5_000, reason: 'HTTP 500' } }])).toEqual(['blocked']);
    expect(queries() - before).toBe(1);
    before = queries();
    const step = await store.settleAndClaim([{ ...c!, decision: { kind: 'park', reason: 'HTTP 500' } }], { target: 'f', limit: 1, owner: 'o', leaseMs: 30_000 });
    expect(step).toEqual({ results: ['blocked'], claims: [] });
    expect(queries() - before).toBe(2);
    expect((await store.getLane('f', 'b'))!.state).toBe('stalled');
    expect((await store.getLane('f', 'c'))!.state).toBe('parked');
  });
});
