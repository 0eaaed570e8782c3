/*
 * Migration 24: renewals and releases of leases reach each row by its key, once. They were
 * prepared statements that joined their batch to the rows it locked and updated pair by pair
 * (n × n: 90 comparisons for 10 leases, a quarter of a million for 500), and, being statements,
 * were free to plan sequential scans on tables analysed while small. A renewal runs every few
 * seconds for every lease an instance holds, so its cost grew with the square of the concurrency.
 *
 * As functions they are planned once per connection with sequential and bitmap scans off, like
 * migrations 13 to 23. renew_leases locks each delivery from its lease (skipping rows locked by
 * someone else: those are being settled, released or taken over right now) and reads, from the
 * row it locked, whether the lease is still current; it renews the current ones and their lanes
 * (skipping locked lanes: a lane's `leased_until` is only a hint) and returns the ids of the
 * leases it found lost. A lease whose row was locked by someone else, or is gone, is neither
 * renewed nor reported lost: the next renewal decides. release_leases gives leases back untried;
 * the caller has locked their lanes first, in order. Text here is frozen with the migration.
 */
export const LEASE_FUNCTIONS_MIGRATION = `
CREATE FUNCTION renew_leases(p_ids BIGINT[], p_epochs INTEGER[], p_until BIGINT, p_now BIGINT)
RETURNS TABLE (lost BIGINT)
LANGUAGE plpgsql VOLATILE SET search_path FROM CURRENT SET plan_cache_mode = force_generic_plan SET enable_seqscan = off
  SET enable_bitmapscan = off SET jit = off AS $fn$
BEGIN
  -- A lost renewal costs nothing that the next one does not repair: no need to wait for the flush.
  PERFORM set_config('synchronous_commit', 'off', true);
  RETURN QUERY
  WITH held AS MATERIALIZED (
    SELECT d.id, d.target_id, d.lane, (d.epoch = v.epoch AND d.status = 'delivering') AS is_current
    FROM unnest(p_ids, p_epochs) AS v(id, epoch) JOIN deliveries d ON d.id = v.id
    FOR UPDATE OF d SKIP LOCKED
  ), r AS (
    UPDATE deliveries d SET available_at = p_until, updated_at = p_now
    FROM held h WHERE d.id = h.id AND h.is_current
    RETURNING d.target_id, d.lane
  ), lk AS (
    SELECT l.target_id, l.lane FROM (SELECT DISTINCT r.target_id, r.lane FROM r WHERE r.lane IS NOT NULL) x
    CROSS JOIN LATERAL (SELECT l.target_id, l.lane FROM lanes l WHERE l.target_id = x.target_id AND l.lane = x.lane FOR UPDATE SKIP LOCKED) l
  ), lu AS (
    UPDATE lanes l SET ready_at = p_until, leased_until = p_until FROM lk WHERE l.target_id = lk.target_id AND l.lane = lk.lane
  )
  SELECT h.id FROM held h WHERE NOT h.is_current;
END
$fn$;

CREATE FUNCTION release_leases(p_ids BIGINT[], p_epochs INTEGER[], p_now BIGINT)
RETURNS VOID
LANGUAGE plpgsql VOLATILE SET search_path FROM CURRENT SET plan_cache_mode = force_generic_plan SET enable_seqscan = off
  SET enable_bitmapscan = off SET jit = off AS $fn$
BEGIN
  WITH r AS (
    UPDATE deliveries d SET status = 'ready', attempts = d.attempts - 1, available_at = p_now, lease_owner = NULL, updated_at = p_now
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
