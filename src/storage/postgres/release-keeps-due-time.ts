/*
 * Migration 34: a lease given back untried keeps its message's due time.
 *
 * A claim of an ordered lane takes several deliveries at once (a batch, or messages claimed ahead
 * to be sent one call each), from the lane's head on, and the head alone has to be due. One
 * behind it may carry a `deliverAt` still to come: it is given back unsent, and release_leases
 * made it available at once, so the next claim sent it early. It now becomes available at the
 * later of now and its message's deliverAt; everything else is given back as before. Text here
 * is frozen with the migration.
 */
export const RELEASE_KEEPS_DUE_TIME_MIGRATION = `
CREATE OR REPLACE FUNCTION release_leases(p_ids BIGINT[], p_epochs INTEGER[], p_now BIGINT)
RETURNS VOID
LANGUAGE plpgsql VOLATILE SET search_path FROM CURRENT SET plan_cache_mode = force_generic_plan SET enable_seqscan = off
  SET enable_bitmapscan = off SET jit = off AS $fn$
BEGIN
  WITH r AS (
    UPDATE deliveries d SET status = 'ready', attempts = d.attempts - 1, lease_owner = NULL, updated_at = p_now,
      available_at = GREATEST(p_now, COALESCE((SELECT m.deliver_at FROM messages m WHERE m.pk = d.message_pk), p_now))
    FROM unnest(p_ids, p_epochs) AS v(id, epoch)
    WHERE d.id = v.id AND d.epoch = v.epoch AND d.status = 'delivering'
    RETURNING d.target_id, d.lane
  ), cnt AS (
    INSERT INTO target_counts AS c (target_id, slot, depth, in_flight, delivered, deadlettered, skipped, delivered_sequence)
    SELECT r.target_id, pg_backend_pid(), 0, -count(*), 0, 0, 0, 0 FROM r GROUP BY r.target_id
    ON CONFLICT (target_id, slot) DO UPDATE SET in_flight = c.in_flight + EXCLUDED.in_flight
  )
  UPDATE lanes l SET ready_at = p_now, leased_until = NULL
  FROM (SELECT DISTINCT r.target_id, r.lane FROM r WHERE r.lane IS NOT NULL) x
  WHERE l.target_id = x.target_id AND l.lane = x.lane;
END
$fn$;
`;
