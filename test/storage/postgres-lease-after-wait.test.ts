import { describe, expect, it } from 'vitest';
import type { Claim, Settlement } from '../../src/storage/port.js';
import { postgresAvailable, useStoreWithClient } from '../support/postgres.js';

const available = await postgresAvailable();

/*
 * An application's outbox transaction that writes to a fifo key holds that key's lane until it
 * commits. An answer for the key settles and claims the key's next message in one statement,
 * which waits for the lane meanwhile; the lease it then writes must count from when it got the
 * lane, or the key's next message is already up for takeover by any other claimer (two calls
 * of one key in flight). Real time: the store's clock is the database's.
 */
describe.skipIf(!available)('PostgreSQL: a claim that waited for a lane leases from when it got it (migration 26)', () => {
  const LEASE = 1_500;
  const open = useStoreWithClient();

  const delivered = (claims: Claim[]): Settlement[] => claims.flatMap((c) => c.deliveries.map((d) => ({
    deliveryId: d.deliveryId, epoch: d.epoch, decision: { kind: 'delivered' as const },
    attempt: { attempt: d.attempt, startedAt: Date.now(), durationMs: 1, statusCode: 200, error: null, response: null },
  })));

  it.each([1, 2])('settling %i deliveries of a key whose lane an open transaction holds longer than the lease', async (settling) => {
    const { store, app, schema } = await open([{ name: 'f', kind: 'fifo' }]);
    const msg = (id: string) => ({ id, key: 'A', type: 't', data: '{}', metadata: {}, deliverAt: null });
    await store.send('f', ['a0', 'a1', 'a2', 'a3'].map(msg));
    const first = await store.claim({ target: 'f', limit: 1, owner: 'one', leaseMs: 60_000, batchSize: settling });
    expect(first[0]!.deliveries).toHaveLength(settling);

    // The application's transaction takes the lane's lock (as its outbox write to key A does) and stays open.
    await app.query('BEGIN');
    await app.query(`SELECT 1 FROM "${schema}".lanes WHERE lane = 'A' FOR UPDATE`);
    const step = store.settleAndClaim(delivered(first), { target: 'f', limit: 1, owner: 'one', leaseMs: LEASE });
    await new Promise((resolve) => setTimeout(resolve, LEASE + 1_000));
    await app.query('COMMIT');
    const { claims } = await step;
    expect(claims.map((c) => c.lane)).toEqual(['A']);

    // Its lease runs from now on: nobody else may take the key.
    expect(await store.claim({ target: 'f', limit: 5, owner: 'two', leaseMs: LEASE })).toEqual([]);
  }, 20_000);

  it('adds the wait once when the settlement was fenced (another key is claimed for a lease from the lock, not later)', async () => {
    const { store, app, schema } = await open([{ name: 'f', kind: 'fifo' }]);
    const msg = (id: string, key: string) => ({ id, key, type: 't', data: '{}', metadata: {}, deliverAt: null });
    await store.send('f', [msg('a0', 'A'), msg('a1', 'A')]);
    const first = await store.claim({ target: 'f', limit: 1, owner: 'one', leaseMs: 60_000 });
    await store.send('f', [msg('b0', 'B')]);
    await app.query('BEGIN');
    await app.query(`SELECT 1 FROM "${schema}".lanes WHERE lane = 'A' FOR UPDATE`);
    // A stale epoch: the settlement is fenced, and the function hands over to settle_and_claim_many.
    const stale = delivered(first).map((s) => ({ ...s, epoch: s.epoch - 1 }));
    const step = store.settleAndClaim(stale, { target: 'f', limit: 1, owner: 'one', leaseMs: LEASE });
    await new Promise((resolve) => setTimeout(resolve, LEASE + 1_000));
    await app.query('COMMIT');
    const { claims } = await step;
    expect(claims.map((c) => c.lane)).toEqual(['B']);
    const { rows } = await app.query<{ ahead: number }>(
      `SELECT available_at - EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS ahead FROM "${schema}".deliveries d
       JOIN "${schema}".messages m ON m.pk = d.message_pk WHERE m.id = 'b0'`);
    expect(Number(rows[0]!.ahead)).toBeGreaterThan(LEASE - 1_000);
    expect(Number(rows[0]!.ahead)).toBeLessThanOrEqual(LEASE + 300);
  }, 20_000);
});
