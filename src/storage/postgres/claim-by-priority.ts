import { functionIn, replaced } from './derived-sql.js';
import { LOOK_AHEAD_IN_ORDER_MIGRATION } from './look-ahead-in-order.js';

/*
 * Migration 32: an unordered claim reads one index range per priority present, so that a claim
 * that comes up short stops at the first delivery not yet due instead of reading all of them.
 *
 * The claim took the due deliveries of a target in (priority, due time, id) order from
 * deliveries_by_priority, with the due time bounded (`free_at <= now`). The due time is the
 * index's third column, after the priority, and PostgreSQL's B-tree cannot skip from one
 * priority to the next: a bound on a column after an unbounded one is checked entry by entry. A
 * claim that found fewer due deliveries than it asked for went on through every entry of the
 * target that was not due: each lease in flight, and each message scheduled for later. A queue
 * holding 100,000 messages scheduled for tomorrow read 100,000 index entries (609 pages) on every
 * claim of a trickle, 2.3 ms where 10,000 took 0.75.
 *
 * The claim now walks the priorities from the top, as the SQLite store does, and reads each one's
 * due deliveries as a range in due order, which stops at the first not yet due. Priority 0, the
 * default, is always read in its turn; the others present are found in deliveries_priorities, a
 * partial index of live deliveries with another priority (empty, and never written, on a target
 * whose messages all have the default). Finding the top priority in deliveries_by_priority instead
 * would read, a second time per claim, the entries that claims and settlements left behind at the
 * front of the index until VACUUM. The rows are picked and locked the same way (FOR UPDATE SKIP
 * LOCKED, expired messages left to the sweep, none of a paused target); the statement that leases
 * them, counts them and reads their messages is unchanged but for taking the picked ids. Laned
 * deliveries never have a priority (fifo queues and subscriptions refuse one), so their claims stay
 * HOT updates. Text here is frozen with the migration.
 */

const LABEL = 'migration 32';

const SETTLE_FREE_AND_CLAIM = replaced(functionIn(LOOK_AHEAD_IN_ORDER_MIGRATION, 'settle_free_and_claim', LABEL), [
  ['  v_claimed BIGINT;\n', '  v_claimed BIGINT;\n  v_picked BIGINT[];\n  v_priority SMALLINT;\n  v_next SMALLINT;\n'],
  [`    RETURN QUERY
    WITH picked AS (
      SELECT d.id, d.status, d.priority, d.available_at AS due FROM deliveries d
      WHERE d.target_id = (SELECT c.id FROM channels c LEFT JOIN channels t ON t.id = c.topic_id
          WHERE c.id = p_target AND NOT c.paused AND NOT COALESCE(t.paused, false))
        AND d.free_at <= p_now AND (d.expires_at IS NULL OR d.expires_at > p_now)
      ORDER BY d.priority DESC, d.free_at, d.id LIMIT p_limit
      FOR UPDATE SKIP LOCKED
    ), leased AS (`,
  `    -- One index range per priority present, from the top: 0 in its turn, the others as deliveries_priorities has them.
    v_picked := '{}';
    v_priority := 32767;
    LOOP
      v_next := (SELECT d.priority FROM deliveries d
        WHERE d.target_id = p_target AND d.priority <> 0 AND d.free_at IS NOT NULL AND d.priority < v_priority
        ORDER BY d.priority DESC LIMIT 1);
      IF v_priority > 0 AND COALESCE(v_next, -1) < 0 THEN
        v_next := 0;
      END IF;
      EXIT WHEN v_next IS NULL;
      v_priority := v_next;
      v_picked := v_picked || ARRAY(SELECT d.id FROM deliveries d
        WHERE d.target_id = (SELECT c.id FROM channels c LEFT JOIN channels t ON t.id = c.topic_id
            WHERE c.id = p_target AND NOT c.paused AND NOT COALESCE(t.paused, false))
          AND d.priority = v_priority AND d.free_at <= p_now AND (d.expires_at IS NULL OR d.expires_at > p_now)
        ORDER BY d.free_at, d.id LIMIT p_limit - cardinality(v_picked)
        FOR UPDATE SKIP LOCKED);
      EXIT WHEN cardinality(v_picked) >= p_limit;
    END LOOP;
    RETURN QUERY
    WITH picked AS (
      -- Locked above by this transaction: read as they are now.
      SELECT d.id, d.status, d.priority, d.available_at AS due FROM deliveries d WHERE d.id = ANY(v_picked)
    ), leased AS (`],
], LABEL);

export const CLAIM_BY_PRIORITY_MIGRATION = `
CREATE INDEX deliveries_priorities ON deliveries (target_id, priority) WHERE priority <> 0 AND free_at IS NOT NULL;

${SETTLE_FREE_AND_CLAIM}`;
