import { describe, expect, it } from 'vitest';
import { postgresAvailable, useStoreWithClient } from '../support/postgres.js';

const available = await postgresAvailable();

/*
 * A send that claims for its own instance (migration 36) runs the claim of settle_free_and_claim,
 * which turns synchronous_commit off for its transaction. A send is acknowledged only once
 * durable: enqueue_and_claim sets it back before its transaction commits.
 */
describe.skipIf(!available)('PostgreSQL: a send that claims commits durably (migration 36)', () => {
  const open = useStoreWithClient();

  it('leaves synchronous_commit as the session had it, and claims in the same transaction', async () => {
    const { store, app } = await open([{ name: 'q', kind: 'queue' }], { poolSize: 2 });
    const { rows: [queue] } = await app.query<{ id: string }>(`SELECT id FROM channels WHERE name = 'q'`);
    const send = (id: string) => app.query(`SELECT * FROM enqueue_and_claim($1, ARRAY[$2::text], ARRAY[NULL], ARRAY['t'], ARRAY['{}'], ARRAY['{}'], ARRAY[NULL]::BIGINT[],
      $3::bigint, false, NULL, 'q', ARRAY[0]::SMALLINT[], ARRAY[NULL]::BIGINT[], 5, 'me', $4::bigint)`, [queue!.id, id, Date.now(), Date.now() + 60_000]);
    for (const setting of ['on', 'remote_write']) {
      await app.query('BEGIN');
      await app.query(`SET LOCAL synchronous_commit = ${setting}`);
      const { rows } = await send(`m-${setting}`);
      expect(rows.filter((r: { delivery_id: string | null }) => r.delivery_id !== null)).toHaveLength(1);
      expect((await app.query('SHOW synchronous_commit')).rows[0].synchronous_commit).toBe(setting);
      await app.query('COMMIT');
    }
    // Without the restore, the claim's setting would outlive the call: the same probe on the claim alone.
    await app.query('BEGIN');
    await app.query(`SELECT * FROM settle_free_and_claim('{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', $1::bigint, $2::bigint, 1, 'me', $3::bigint, false)`, [Date.now(), queue!.id, Date.now() + 60_000]);
    expect((await app.query('SHOW synchronous_commit')).rows[0].synchronous_commit).toBe('off');
    await app.query('ROLLBACK');
    const [m] = await store.getMessage('m-on');
    expect(m!.deliveries[0]).toMatchObject({ status: 'delivering', attempts: 1 });
  });
});
