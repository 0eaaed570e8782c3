import pg from 'pg';
import { describe, expect, it } from 'vitest';
import type { Settlement } from '../../src/storage/port.js';
import type { PostgresStore } from '../../src/storage/postgres/index.js';
import { postgresAvailable, useStoreWithClient, waitForLockWait } from '../support/postgres.js';

const available = await postgresAvailable();

/*
 * Attempts carry no foreign key (migration 35). A late answer of an earlier attempt (a fenced
 * settlement) can meet a purge or a retention sweep deleting its delivery. Whichever takes the
 * delivery's row first, the settlement goes through and no attempt outlives its delivery. The
 * other side of each race is an application connection doing by hand what the store's statement
 * does at that point, held open until the store's statement waits for it.
 */
describe.skipIf(!available)('PostgreSQL: attempts and the deletes of their deliveries (migration 35)', () => {
  const open = useStoreWithClient();
  let schema = '';
  let store: PostgresStore | undefined;
  let app: pg.Client | undefined;

  const msg = (id: string) => ({ id, key: null, type: 't', data: '{}', metadata: {}, deliverAt: null });
  const settlement = (deliveryId: number, epoch: number, decision: Settlement['decision']): Settlement => ({
    deliveryId, epoch, decision, attempt: { attempt: 1, startedAt: Date.now(), durationMs: 1, statusCode: 200, error: null, response: null },
  });

  /** A store with `m1` settled as `decision` (one attempt recorded); returns m1's delivery id and epoch. */
  async function settledOne(decision: Settlement['decision']): Promise<{ id: number; epoch: number }> {
    ({ store, app, schema } = await open([{ name: 'q', kind: 'queue' }]));
    await store.send('q', [msg('m1')]);
    const [claim] = await store.claim({ target: 'q', limit: 1, owner: 'one', leaseMs: 60_000 });
    const { deliveryId, epoch } = claim!.deliveries[0]!;
    expect(await store.settle([settlement(deliveryId, epoch, decision)])).toEqual(['ok']);
    return { id: deliveryId, epoch };
  }

  const attemptsOf = async (id: number) => Number((await app!.query('SELECT COUNT(*) AS n FROM attempts WHERE delivery_id = $1', [id])).rows[0].n);

  it('a fenced settlement that waited for a purge deleting its delivery records nothing, and its batch is settled', async () => {
    const m1 = await settledOne({ kind: 'deadletter', reason: 'HTTP 400' });
    await store!.send('q', [msg('m2')]);
    const [m2] = await store!.claim({ target: 'q', limit: 1, owner: 'one', leaseMs: 60_000 });
    // A purge (or any statement) deleting m1's delivery, its transaction still open.
    await app!.query('BEGIN');
    await app!.query('DELETE FROM deliveries WHERE id = $1', [m1.id]);
    const late = store!.settle([
      settlement(m1.id, m1.epoch - 1, { kind: 'delivered' }),
      settlement(m2!.deliveries[0]!.deliveryId, m2!.deliveries[0]!.epoch, { kind: 'delivered' }),
    ]);
    await waitForLockWait({ queryContains: schema });
    await app!.query('COMMIT');
    expect(await late).toEqual(['fenced', 'ok']);
    expect(await attemptsOf(m1.id)).toBe(0);
    expect((await store!.getMessage('m2'))[0]!.deliveries[0]).toMatchObject({ status: 'delivered' });
  });

  it.each([
    ['a purge', 'deadletter' as const],
    ['a retention sweep', 'delivered' as const],
  ])('%s waits for a fenced settlement that locked the delivery first, and deletes its attempt too', async (_, kind) => {
    const m1 = await settledOne(kind === 'deadletter' ? { kind, reason: 'HTTP 400' } : { kind });
    expect(await attemptsOf(m1.id)).toBe(1);
    // The fenced settlement: the delivery locked as its statement locks it, the attempt recorded, then commit.
    await app!.query('BEGIN');
    await app!.query('SELECT 1 FROM deliveries WHERE id = $1 FOR KEY SHARE', [m1.id]);
    const removed = kind === 'deadletter' ? store!.purgeDeadLetters('q') : store!.sweep(Date.now() + 60_000);
    await waitForLockWait({ queryContains: schema });
    await app!.query(`INSERT INTO attempts (delivery_id, attempt, started_at, duration_ms, status_code, fenced) VALUES ($1, 0, 0, 1, 200, true)`, [m1.id]);
    await app!.query('COMMIT');
    expect(await removed).toBe(1);
    expect(await attemptsOf(m1.id)).toBe(0);
    expect(await store!.getMessage('m1')).toEqual([]);
  });
});
