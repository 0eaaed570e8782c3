/*
 * Migration 23: the settlements that serve failing calls are planned like the hot ones. Retries,
 * stalls and parks of laned deliveries (settle_holding, lane-holds.ts) and the general settlement
 * of a batch that mixes them with delivered answers (settle_deliveries, apply_lanes) were
 * prepared statements, in which sequential scans stay allowed: on tables analysed while small,
 * or on a few thousand lanes (where the planner prices one scan below ten lookups by key), a
 * batch of ten read every delivery or every lane of the table, once per batch, under exactly the
 * retry storm that sends many such batches. As functions they are planned once per connection
 * with sequential and bitmap scans off, like migrations 13 to 22, so every row is reached by its
 * key under any statistics.
 *
 * Their statements are the ones the adapter sent, with the batch met once instead of pair by
 * pair: an attempt is marked fenced from the array of ids settled, the counters read each row's
 * new status from the update itself, and settle_holding carries each outcome's position and lane
 * write through its update (no join of the outcomes with the rows updated), reads a lane's state
 * before the batch once per lane, and returns a row per delivery it settled (the caller takes a
 * missing one as fenced). Text here is frozen with the migration.
 */
export const HOLDING_FUNCTIONS_MIGRATION = `
-- Settle step 2 of a mixed batch: every outcome, fenced by epoch, with its attempt record (a fenced
-- attempt's too, marked). Returns the deliveries settled.
CREATE FUNCTION settle_deliveries(
  p_ids BIGINT[], p_epochs INTEGER[], p_status TEXT[], p_available BIGINT[], p_reason TEXT[], p_result TEXT[],
  p_attempt INTEGER[], p_started BIGINT[], p_duration INTEGER[], p_code INTEGER[], p_error TEXT[], p_response TEXT[], p_now BIGINT)
RETURNS TABLE (id BIGINT, target_id BIGINT, lane TEXT, "position" BIGINT)
LANGUAGE plpgsql VOLATILE SET search_path FROM CURRENT SET plan_cache_mode = force_generic_plan SET enable_seqscan = off
  SET enable_bitmapscan = off SET jit = off AS $fn$
#variable_conflict use_column
BEGIN
  RETURN QUERY
  WITH v AS (
    SELECT * FROM unnest(p_ids, p_epochs, p_status, p_available, p_reason, p_result, p_attempt, p_started, p_duration, p_code, p_error, p_response)
      WITH ORDINALITY AS v(id, epoch, status, available_at, reason, result, attempt, started_at, duration_ms, status_code, error, response, ord)
  ), upd AS (
    UPDATE deliveries d SET status = v.status, available_at = v.available_at, lease_owner = NULL, last_error = v.reason,
      result = CASE WHEN v.status = 'delivered' THEN v.result ELSE d.result END, updated_at = p_now
    FROM v WHERE d.id = v.id AND d.epoch = v.epoch AND d.status = 'delivering'
    RETURNING d.id, d.target_id, d.lane, d.position, d.message_pk, d.status
  ), att AS (
    INSERT INTO attempts (delivery_id, attempt, started_at, duration_ms, status_code, error, response, fenced)
    SELECT v.id, v.attempt, v.started_at, v.duration_ms, v.status_code, v.error, v.response, v.id <> ALL(ARRAY(SELECT upd.id FROM upd))
    FROM v WHERE EXISTS (SELECT 1 FROM deliveries d WHERE d.id = v.id) ORDER BY v.ord
  ), cursors AS (
    INSERT INTO lane_cursors AS lc (target_id, lane, delivered, last_id)
    SELECT g.target_id, g.lane, g.n, (SELECT m.id FROM messages m WHERE m.pk = g.last_pk)
    FROM (SELECT upd.target_id, upd.lane, count(*) AS n, (array_agg(upd.message_pk ORDER BY upd.position DESC))[1] AS last_pk
      FROM upd WHERE upd.lane IS NOT NULL AND upd.status = 'delivered' GROUP BY upd.target_id, upd.lane) g
    ON CONFLICT (target_id, lane) DO UPDATE SET delivered = lc.delivered + EXCLUDED.delivered, last_id = EXCLUDED.last_id
  ), cnt AS (
    INSERT INTO target_counts AS c (target_id, slot, depth, in_flight, delivered, deadlettered, skipped, delivered_sequence)
    SELECT upd.target_id, pg_backend_pid(), -count(*) FILTER (WHERE upd.status IN ('delivered', 'deadlettered')), -count(*),
      count(*) FILTER (WHERE upd.status = 'delivered'), count(*) FILTER (WHERE upd.status = 'deadlettered'), 0,
      COALESCE(MAX(upd.position) FILTER (WHERE upd.status = 'delivered'), 0)
    FROM upd GROUP BY upd.target_id
    ON CONFLICT (target_id, slot) DO UPDATE SET depth = c.depth + EXCLUDED.depth, in_flight = c.in_flight + EXCLUDED.in_flight,
      delivered = c.delivered + EXCLUDED.delivered, deadlettered = c.deadlettered + EXCLUDED.deadlettered,
      delivered_sequence = GREATEST(c.delivered_sequence, EXCLUDED.delivered_sequence)
  )
  SELECT upd.id, upd.target_id, upd.lane, upd.position FROM upd;
END
$fn$;

-- Settle step 4 of a mixed batch: drop the emptied lanes, set the others active or blocked.
CREATE FUNCTION apply_lanes(p_gone_targets BIGINT[], p_gone_lanes TEXT[], p_targets BIGINT[], p_lanes TEXT[], p_states TEXT[],
  p_ready BIGINT[], p_reasons TEXT[], p_now BIGINT)
RETURNS VOID
LANGUAGE plpgsql VOLATILE SET search_path FROM CURRENT SET plan_cache_mode = force_generic_plan SET enable_seqscan = off
  SET enable_bitmapscan = off SET jit = off AS $fn$
BEGIN
  DELETE FROM lanes l USING unnest(p_gone_targets, p_gone_lanes) AS g(target_id, lane)
  WHERE l.target_id = g.target_id AND l.lane = g.lane;
  UPDATE lanes l SET state = v.state, ready_at = v.ready_at, leased_until = NULL, reason = v.reason,
    since = CASE WHEN v.state = 'active' THEN NULL ELSE COALESCE(l.since, p_now) END
  FROM unnest(p_targets, p_lanes, p_states, p_ready, p_reasons) AS v(target_id, lane, state, ready_at, reason)
  WHERE l.target_id = v.target_id AND l.lane = v.lane;
END
$fn$;

-- Retry, park and stall outcomes of laned deliveries: lock the lanes in (target, lane) order,
-- settle the deliveries fenced by epoch (with their attempts), and write each lane as its last
-- outcome in the batch leaves it. One row per delivery settled: whether it has a lane, and that
-- lane's state before this outcome (the lane's state before the batch, or the previous outcome's).
CREATE FUNCTION settle_holding(
  p_ids BIGINT[], p_epochs INTEGER[], p_status TEXT[], p_available BIGINT[], p_reason TEXT[], p_result TEXT[],
  p_attempt INTEGER[], p_started BIGINT[], p_duration INTEGER[], p_code INTEGER[], p_error TEXT[], p_response TEXT[], p_now BIGINT,
  p_lane_states TEXT[], p_lane_ready BIGINT[], p_lane_reasons TEXT[])
RETURNS TABLE (id BIGINT, laned BOOLEAN, before TEXT)
LANGUAGE plpgsql VOLATILE SET search_path FROM CURRENT SET plan_cache_mode = force_generic_plan SET enable_seqscan = off
  SET enable_bitmapscan = off SET jit = off AS $fn$
#variable_conflict use_column
BEGIN
  PERFORM set_config('synchronous_commit', 'off', true);
  RETURN QUERY
  WITH v AS (
    SELECT * FROM unnest(p_ids, p_epochs, p_status, p_available, p_reason, p_result, p_attempt, p_started, p_duration, p_code, p_error,
      p_response, p_lane_states, p_lane_ready, p_lane_reasons) WITH ORDINALITY
      AS v(id, epoch, status, available_at, reason, result, attempt, started_at, duration_ms, status_code, error, response,
        lane_state, lane_ready, lane_reason, ord)
  ), lk AS MATERIALIZED (
    SELECT l.target_id, l.lane, l.state
    FROM (SELECT DISTINCT d.target_id, d.lane FROM deliveries d WHERE d.id = ANY(p_ids) AND d.lane IS NOT NULL ORDER BY 1, 2) x
    CROSS JOIN LATERAL (SELECT l.target_id, l.lane, l.state FROM lanes l WHERE l.target_id = x.target_id AND l.lane = x.lane FOR UPDATE) l
  ), upd AS (
    UPDATE deliveries d SET status = v.status, available_at = v.available_at, lease_owner = NULL, last_error = v.reason, updated_at = p_now
    FROM v WHERE d.id = v.id AND d.epoch = v.epoch AND d.status = 'delivering' AND (SELECT count(*) FROM lk) >= 0
    RETURNING d.id, d.target_id, d.lane, v.ord, v.lane_state, v.lane_ready, v.lane_reason
  ), att AS (
    INSERT INTO attempts (delivery_id, attempt, started_at, duration_ms, status_code, error, response, fenced)
    SELECT v.id, v.attempt, v.started_at, v.duration_ms, v.status_code, v.error, v.response, v.id <> ALL(ARRAY(SELECT upd.id FROM upd))
    FROM v WHERE EXISTS (SELECT 1 FROM deliveries d WHERE d.id = v.id) ORDER BY v.ord
  ), cnt AS (
    INSERT INTO target_counts AS c (target_id, slot, depth, in_flight, delivered, deadlettered, skipped, delivered_sequence)
    SELECT upd.target_id, pg_backend_pid(), 0, -count(*), 0, 0, 0, 0 FROM upd GROUP BY upd.target_id
    ON CONFLICT (target_id, slot) DO UPDATE SET in_flight = c.in_flight + EXCLUDED.in_flight
  ), w AS MATERIALIZED (
    -- A lane's state before the batch is the row lk locked (as the last holder of the lock left
    -- it, which this statement's snapshot may predate), read once per lane: COALESCE looks only
    -- when no earlier outcome of the batch wrote the lane.
    SELECT upd.id, upd.ord, upd.target_id, upd.lane, upd.lane_state, upd.lane_ready, upd.lane_reason,
      CASE WHEN upd.lane IS NOT NULL THEN COALESCE(lag(upd.lane_state) OVER (PARTITION BY upd.target_id, upd.lane ORDER BY upd.ord),
        (SELECT lk.state FROM lk WHERE lk.target_id = upd.target_id AND lk.lane = upd.lane)) END AS before,
      row_number() OVER (PARTITION BY upd.target_id, upd.lane ORDER BY upd.ord DESC) AS last
    FROM upd
  ), lw AS (
    UPDATE lanes l SET state = w.lane_state, ready_at = w.lane_ready, leased_until = NULL, reason = w.lane_reason,
      since = CASE WHEN w.lane_state = 'active' THEN NULL ELSE COALESCE(l.since, p_now) END
    FROM w WHERE w.last = 1 AND w.lane IS NOT NULL AND l.target_id = w.target_id AND l.lane = w.lane
  )
  SELECT w.id, w.lane IS NOT NULL, w.before FROM w ORDER BY w.ord;
END
$fn$;
`;
