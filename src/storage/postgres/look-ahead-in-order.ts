import { functionIn, replaced } from './derived-sql.js';
import { REPEATED_SETTLEMENTS_MIGRATION } from './repeated-settlements.js';

/*
 * Migration 31: a look-ahead reads the earliest due delivery or lane, one index entry, instead of
 * aggregating all of them.
 *
 * A claim that comes up short ends with the target's next due time: MIN(free_at) of its live
 * deliveries. The function's plan is made at its first call in each session, often while the
 * target has no backlog; the planner then took deliveries_by_priority (its first column is the
 * priority, not the due time) and aggregated every live delivery of the target, ready or leased,
 * on each look-ahead for as long as the session lived: 4,000 rows for a backlog of 4,000 not yet
 * due, 865 µs a call in a drain of 20,000. Asked as the first row in due order, only
 * deliveries_ready can answer without a sort (which these functions do without), and it reads
 * the first entry that is not expired. The answer is unchanged.
 *
 * nextWakeAt asked the same as a prepared statement, which PostgreSQL plans generically after a
 * few runs, with the statistics of the moment: on tables analysed while nearly empty, a scan of
 * every delivery and a sort. next_wake_at asks it, and the earliest ready lane of an ordered
 * target, planned like the claims (no sequential scan, no sort). Text here is frozen with the
 * migration.
 */

const LABEL = 'migration 31';

const SETTLE_FREE_AND_CLAIM = replaced(functionIn(REPEATED_SETTLEMENTS_MIGRATION, 'settle_free_and_claim', LABEL), [
  [`next_at := (SELECT MIN(d.free_at) FROM deliveries d
        WHERE d.target_id = p_target AND d.free_at IS NOT NULL AND (d.expires_at IS NULL OR d.expires_at > p_now));`,
  `next_at := (SELECT d.free_at FROM deliveries d
        WHERE d.target_id = p_target AND d.free_at IS NOT NULL AND (d.expires_at IS NULL OR d.expires_at > p_now)
        ORDER BY d.free_at LIMIT 1);`],
], LABEL);

export const LOOK_AHEAD_IN_ORDER_MIGRATION = `${SETTLE_FREE_AND_CLAIM}

CREATE FUNCTION next_wake_at(p_target BIGINT, p_laned BOOLEAN, p_now BIGINT) RETURNS BIGINT
LANGUAGE plpgsql STABLE SET search_path FROM CURRENT SET plan_cache_mode = force_generic_plan SET enable_seqscan = off
  SET enable_bitmapscan = off SET enable_sort = off SET jit = off AS $fn$
BEGIN
  IF p_laned THEN
    RETURN (SELECT l.ready_at FROM lanes l WHERE l.target_id = p_target AND l.ready_at IS NOT NULL ORDER BY l.ready_at LIMIT 1);
  END IF;
  -- Expired deliveries are not work: the expiry sweep takes them out.
  RETURN (SELECT d.free_at FROM deliveries d
    WHERE d.target_id = p_target AND d.free_at IS NOT NULL AND (d.expires_at IS NULL OR d.expires_at > p_now)
    ORDER BY d.free_at LIMIT 1);
END
$fn$;
`;
