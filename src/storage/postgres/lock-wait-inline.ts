/*
 * Migration 29: lock_wait_ms() as one expression, which the planner inlines.
 *
 * Migration 26 wrote it as a SELECT over a subquery. A SQL function with a FROM clause is not
 * inlined: each call from settle_and_claim and settle_and_claim_many (once per step of an
 * ordered target) went through the SQL-function executor, which parses and plans the body again
 * in every transaction. That was about a fifth of PostgreSQL's CPU for one unbatched subscription
 * step. As a single expression it becomes part of the calling statement's cached plan. It reads
 * the clock twice; the second reading is never the earlier one, so a wait of 250 ms or more is
 * still reported whole. Text here is frozen with the migration.
 */
export const LOCK_WAIT_INLINE_MIGRATION = `
CREATE OR REPLACE FUNCTION lock_wait_ms() RETURNS BIGINT LANGUAGE sql VOLATILE AS $fn$
  SELECT CASE WHEN clock_timestamp() - statement_timestamp() >= interval '250 milliseconds'
    THEN floor(EXTRACT(EPOCH FROM clock_timestamp() - statement_timestamp()) * 1000)::bigint ELSE 0 END
$fn$;
`;
