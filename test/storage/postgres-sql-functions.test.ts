import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { postgresAvailable, useStoreWithClient } from '../support/postgres.js';

const available = await postgresAvailable();

/*
 * A SQL-language function that the planner does not inline (a FROM clause in a scalar function,
 * a SET clause, a record result) is parsed and planned again in every transaction that calls it
 * from another function: lock_wait_ms() (migration 26) took a fifth of PostgreSQL's CPU in an
 * unbatched subscription's step, and concurrency_share (migration 14) half of a take of endpoint
 * slots, until migrations 29 and 30 wrote them so that they are planned with their callers.
 * The hot paths are PL/pgSQL, whose plans last the session. A new SQL-language function must be
 * either inlined where it is called (checked with EXPLAIN, as lock_wait_ms is) or called only by
 * the client as a statement of its own, and then belongs on the list below with its reason.
 */
describe.skipIf(!available)('PostgreSQL: SQL-language functions of the schema', () => {
  const open = useStoreWithClient();
  let schema = '';

  /** A migrated schema and a connection of the test's own to it. */
  async function migrated(): Promise<pg.Client> {
    const opened = await open([], { poolSize: 2 });
    schema = opened.schema;
    return opened.app;
  }

  it('are only those inlined into their callers or called by the client itself', async () => {
    const db = await migrated();
    const { rows } = await db.query<{ proname: string }>(
      `SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace JOIN pg_language l ON l.oid = p.prolang
       WHERE n.nspname = $1 AND l.lanname = 'sql' ORDER BY p.proname`, [schema]);
    expect(rows.map((r) => r.proname)).toEqual([
      'lock_wait_ms', // one expression, inlined (below)
      'settle_holding_or_give_up', // called by the client, with its lock_timeout
    ]);
  });

  // Called once in every step of an ordered target (a lease counts from when the lane's lock was granted).
  it('lock_wait_ms() is an expression inlined into the calling plan, and still reads a wait of 250 ms or more', async () => {
    const db = await migrated();
    const { rows } = await db.query<{ 'QUERY PLAN': string }>(`EXPLAIN (VERBOSE, COSTS OFF) SELECT "${schema}".lock_wait_ms()`);
    const plan = rows.map((r) => r['QUERY PLAN']).join('\n');
    expect(plan).toContain('statement_timestamp()');
    expect(plan).not.toContain('lock_wait_ms');
    const now = await db.query<{ w: string }>(`SELECT "${schema}".lock_wait_ms() AS w`);
    expect(Number(now.rows[0]!.w)).toBe(0);
    const waited = await db.query<{ w: string }>(`SELECT pg_sleep(0.3), "${schema}".lock_wait_ms() AS w`);
    expect(Number(waited.rows[0]!.w)).toBeGreaterThanOrEqual(300);
  });
});
