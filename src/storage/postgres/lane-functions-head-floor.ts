/*
 * Migration 15: settle_and_claim finds each lane's head once. A head is found by walking the lane
 * index (`deliveries_lane`, partial on live rows) from the lane's lowest position, over the entries
 * every delivered row leaves there until VACUUM removes them; settle_and_claim walked each moved
 * lane twice, once to move it on and again to claim it. The lane stays locked from the one to the
 * other, and every statement that makes a delivery of a lane live takes that lock before it
 * commits (lanes.ts, R2), so the head found when moving a lane on is still its lowest live
 * position when the same call claims it: claim_lanes_from starts each such lane's lookup there
 * (`position >= floor`, an index condition) and walks none of the lane's delivered past.
 *
 * claim_lanes_from is claim_lanes (migration 13) with the floors; a plain claim keeps calling
 * claim_lanes, whose lookup has nothing to start from. settle_and_claim keeps its signature.
 * Text here is frozen with the migration; a later change is a new one.
 */
export const LANE_HEAD_FLOOR_MIGRATION = `
-- claim_lanes, where a lane named in p_floor_lanes has no live delivery below the matching
-- p_floors position (its head as the caller, holding the lane locked, just found it).
CREATE FUNCTION claim_lanes_from(p_target BIGINT, p_now BIGINT, p_limit INTEGER, p_batch INTEGER, p_max_wait BIGINT, p_owner TEXT,
  p_lease_until BIGINT, p_floor_lanes TEXT[], p_floors BIGINT[])
RETURNS TABLE (lane TEXT, delivery_id BIGINT, epoch INTEGER, attempts INTEGER, pk BIGINT, id TEXT, key TEXT, type TEXT, data TEXT,
  metadata TEXT, created_at BIGINT, deliver_at BIGINT, sequence BIGINT, priority SMALLINT, expires_at BIGINT, cursor_delivered BIGINT, cursor_last_id TEXT)
LANGUAGE plpgsql VOLATILE SET search_path FROM CURRENT SET plan_cache_mode = force_generic_plan SET enable_seqscan = off AS $fn$
#variable_conflict use_column
DECLARE
  v_lanes TEXT[];
BEGIN
  PERFORM set_config('synchronous_commit', 'off', true);
  v_lanes := ARRAY(
    SELECT l.lane FROM lanes l
    WHERE l.target_id = (SELECT c.id FROM channels c LEFT JOIN channels t ON t.id = c.topic_id
        WHERE c.id = p_target AND NOT c.paused AND NOT COALESCE(t.paused, false))
      AND l.ready_at <= p_now AND (l.leased_until IS NULL OR l.leased_until <= p_now)
    ORDER BY l.ready_at LIMIT p_limit
    FOR UPDATE OF l SKIP LOCKED);
  IF cardinality(v_lanes) = 0 THEN
    RETURN;
  END IF;
  RETURN QUERY
  WITH h AS MATERIALIZED (
    SELECT v.lane, v.ord, x.id, x.position, x.status, x.available_at, x.attempts, x.message_pk
    FROM unnest(v_lanes) WITH ORDINALITY AS v(lane, ord)
    CROSS JOIN LATERAL (
      -- The lane's floor where the caller gave one, else the lowest bigint: an index condition.
      SELECT d.id, d.position, d.status, d.available_at, d.attempts, d.message_pk FROM deliveries d
      WHERE d.target_id = p_target AND d.lane = v.lane AND d.available_at IS NOT NULL
        AND d.position >= COALESCE(p_floors[array_position(p_floor_lanes, v.lane)], -9223372036854775808)
      ORDER BY d.position LIMIT p_batch
      FOR UPDATE OF d
    ) x
  ), heads AS (
    SELECT DISTINCT ON (h.lane) h.lane, h.available_at, h.attempts, (SELECT m.created_at FROM messages m WHERE m.pk = h.message_pk) AS created_at,
      count(*) OVER (PARTITION BY h.lane) AS n
    FROM h ORDER BY h.lane, h.position
  ), verdict AS MATERIALIZED (
    SELECT v.lane,
      CASE WHEN f.lane IS NULL THEN 'empty'
        WHEN f.available_at > p_now THEN 'wait'
        WHEN f.n < p_batch AND f.created_at + p_max_wait > p_now AND f.attempts = 0 THEN 'fill'
        ELSE 'lease' END AS verdict,
      CASE WHEN f.available_at > p_now THEN f.available_at ELSE f.created_at + p_max_wait END AS until
    FROM unnest(v_lanes) AS v(lane) LEFT JOIN heads f ON f.lane = v.lane
  ), waits AS (
    UPDATE lanes l SET ready_at = v.until, filling = l.filling OR v.verdict = 'fill'
    FROM verdict v WHERE l.target_id = p_target AND l.lane = ANY(v_lanes) AND l.lane = v.lane AND v.verdict IN ('wait', 'fill')
  ), gone AS (
    DELETE FROM lanes l USING verdict v WHERE l.target_id = p_target AND l.lane = ANY(v_lanes) AND l.lane = v.lane AND v.verdict = 'empty'
  ), held AS (
    UPDATE lanes l SET ready_at = p_lease_until, leased_until = p_lease_until, filling = false
    FROM verdict v WHERE l.target_id = p_target AND l.lane = ANY(v_lanes) AND l.lane = v.lane AND v.verdict = 'lease'
  ), upd AS (
    UPDATE deliveries d SET status = 'delivering', attempts = d.attempts + 1, epoch = d.epoch + 1, lease_owner = p_owner,
      available_at = p_lease_until, updated_at = p_now
    FROM h JOIN verdict v ON v.lane = h.lane AND v.verdict = 'lease'
    WHERE d.id = ANY(ARRAY(SELECT h.id FROM h)) AND d.id = h.id
    RETURNING d.id, d.epoch, d.attempts, d.message_pk, h.lane, h.ord, h.position, h.status AS was
  ), cnt AS (
    INSERT INTO target_counts AS c (target_id, slot, depth, in_flight, delivered, deadlettered, skipped, delivered_sequence)
    SELECT p_target, pg_backend_pid(), 0, count(*), 0, 0, 0, 0 FROM upd WHERE upd.was = 'ready'
    HAVING count(*) > 0
    ON CONFLICT (target_id, slot) DO UPDATE SET in_flight = c.in_flight + EXCLUDED.in_flight
  )
  SELECT u.lane, u.id, u.epoch, u.attempts, m.pk, m.id, m.key, m.type, m.data, m.metadata, m.created_at, m.deliver_at, m.sequence,
    m.priority, m.expires_at, lc.delivered, lc.last_id
  FROM upd u
  CROSS JOIN LATERAL (SELECT * FROM messages m WHERE m.pk = u.message_pk OFFSET 0) m
  LEFT JOIN LATERAL (SELECT * FROM lane_cursors lc WHERE lc.target_id = p_target AND lc.lane = u.lane OFFSET 0) lc ON true
  ORDER BY u.ord, u.position;
END
$fn$;

-- As in migration 13, except that the heads found when moving lanes of p_target on are the
-- floors of the claim that follows.
CREATE OR REPLACE FUNCTION settle_and_claim(
  p_ids BIGINT[], p_epochs INTEGER[], p_status TEXT[], p_available BIGINT[], p_reason TEXT[], p_result TEXT[],
  p_attempt INTEGER[], p_started BIGINT[], p_duration INTEGER[], p_code INTEGER[], p_error TEXT[], p_response TEXT[], p_now BIGINT,
  p_target BIGINT, p_limit INTEGER, p_batch INTEGER, p_max_wait BIGINT, p_owner TEXT, p_lease_until BIGINT)
RETURNS TABLE (settled BIGINT[], lane TEXT, delivery_id BIGINT, epoch INTEGER, attempts INTEGER, pk BIGINT, id TEXT, key TEXT, type TEXT,
  data TEXT, metadata TEXT, created_at BIGINT, deliver_at BIGINT, sequence BIGINT, priority SMALLINT, expires_at BIGINT, cursor_delivered BIGINT,
  cursor_last_id TEXT)
LANGUAGE plpgsql VOLATILE SET search_path FROM CURRENT SET plan_cache_mode = force_generic_plan SET enable_seqscan = off AS $fn$
#variable_conflict use_column
DECLARE
  v_settled BIGINT[];
  v_floor_lanes TEXT[];
  v_floors BIGINT[];
BEGIN
  PERFORM set_config('synchronous_commit', 'off', true);
  PERFORM 1 FROM (SELECT DISTINCT d.target_id, d.lane FROM deliveries d WHERE d.id = ANY(p_ids) AND d.lane IS NOT NULL ORDER BY 1, 2) x
  CROSS JOIN LATERAL (SELECT 1 FROM lanes l WHERE l.target_id = x.target_id AND l.lane = x.lane FOR UPDATE) l;
  WITH v AS (
    SELECT * FROM unnest(p_ids, p_epochs, p_status, p_available, p_reason, p_result, p_attempt, p_started, p_duration, p_code, p_error, p_response)
      WITH ORDINALITY AS v(id, epoch, status, available_at, reason, result, attempt, started_at, duration_ms, status_code, error, response, ord)
  ), upd AS (
    UPDATE deliveries d SET status = v.status, available_at = v.available_at, lease_owner = NULL, last_error = v.reason,
      result = CASE WHEN v.status = 'delivered' THEN v.result ELSE d.result END, updated_at = p_now
    FROM v WHERE d.id = ANY(p_ids) AND d.id = v.id AND d.epoch = v.epoch AND d.status = 'delivering'
    RETURNING d.id, d.target_id, d.lane, d.position, d.message_pk, d.status
  ), att AS (
    INSERT INTO attempts (delivery_id, attempt, started_at, duration_ms, status_code, error, response, fenced)
    SELECT v.id, v.attempt, v.started_at, v.duration_ms, v.status_code, v.error, v.response, upd.id IS NULL
    FROM v LEFT JOIN upd ON upd.id = v.id WHERE v.id IN (SELECT d.id FROM deliveries d WHERE d.id = ANY(p_ids)) ORDER BY v.ord
  ), cursors AS (
    INSERT INTO lane_cursors AS lc (target_id, lane, delivered, last_id)
    SELECT upd.target_id, upd.lane, count(*), (array_agg((SELECT m.id FROM messages m WHERE m.pk = upd.message_pk) ORDER BY upd.position DESC))[1]
    FROM upd
    WHERE upd.lane IS NOT NULL AND upd.status = 'delivered'
    GROUP BY upd.target_id, upd.lane
    ON CONFLICT (target_id, lane) DO UPDATE SET delivered = lc.delivered + EXCLUDED.delivered, last_id = EXCLUDED.last_id
  ), cnt AS (
    INSERT INTO target_counts AS c (target_id, slot, depth, in_flight, delivered, deadlettered, skipped, delivered_sequence)
    SELECT upd.target_id, pg_backend_pid(), -count(*), -count(*), count(*) FILTER (WHERE upd.status = 'delivered'),
      count(*) FILTER (WHERE upd.status = 'deadlettered'), 0, COALESCE(MAX(upd.position) FILTER (WHERE upd.status = 'delivered'), 0)
    FROM upd GROUP BY upd.target_id
    ON CONFLICT (target_id, slot) DO UPDATE SET depth = c.depth + EXCLUDED.depth, in_flight = c.in_flight + EXCLUDED.in_flight,
      delivered = c.delivered + EXCLUDED.delivered, deadlettered = c.deadlettered + EXCLUDED.deadlettered,
      delivered_sequence = GREATEST(c.delivered_sequence, EXCLUDED.delivered_sequence)
  )
  SELECT COALESCE(array_agg(upd.id), '{}') INTO v_settled FROM upd;
  -- A new snapshot, with the lanes still locked (R1): each moved lane's head now, kept as the
  -- floor of the claim below (the lanes stay locked until commit).
  WITH moved AS (
    SELECT DISTINCT d.target_id, d.lane FROM deliveries d WHERE d.id = ANY(v_settled) AND d.lane IS NOT NULL
  ), h AS MATERIALIZED (
    SELECT mv.target_id, mv.lane, x.status, x.available_at, x.position FROM moved mv
    LEFT JOIN LATERAL (
      SELECT d.status, d.available_at, d.position FROM deliveries d
      WHERE d.target_id = mv.target_id AND d.lane = mv.lane AND d.available_at IS NOT NULL ORDER BY d.position LIMIT 1
    ) x ON true
  ), gone AS (
    DELETE FROM lanes l USING h WHERE l.target_id = h.target_id AND l.lane = h.lane AND h.status IS NULL
  ), due AS (
    UPDATE lanes l SET state = 'active', ready_at = GREATEST(p_now, h.available_at), leased_until = NULL, reason = NULL, since = NULL
    FROM h WHERE l.target_id = h.target_id AND l.lane = h.lane AND h.status IS NOT NULL AND h.status <> 'delivering'
  )
  SELECT array_agg(h.lane), array_agg(h.position) INTO v_floor_lanes, v_floors
  FROM h WHERE h.target_id = p_target AND h.status IS NOT NULL;
  settled := v_settled;
  RETURN NEXT;
  IF p_limit > 0 THEN
    RETURN QUERY SELECT NULL::BIGINT[], c.* FROM claim_lanes_from(p_target, p_now, p_limit, p_batch, p_max_wait, p_owner, p_lease_until,
      COALESCE(v_floor_lanes, '{}'), COALESCE(v_floors, '{}')) c;
  END IF;
END
$fn$;
`;
