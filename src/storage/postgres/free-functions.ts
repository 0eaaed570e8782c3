/*
 * Migration 17: the answers of an unordered target and the claim of the slots they free, in one
 * round trip. Until now a queue's delivered call was settled by one statement and its slot
 * filled by another (claimReady) after the first had returned: two round trips and two
 * commits per step of the dispatcher. settle_free_and_claim runs both, in that order, as two
 * statements of one function (each with its own snapshot), and commits once without waiting for
 * the WAL flush, as each of them did. Deliveries that turn out to have a lane are left untouched
 * and reported, for the locking path. With no claim it is the settlement of lane-free outcomes
 * alone (every queue settlement goes through it); called with no outcomes, it is the
 * claim a woken dispatcher makes, with the look-ahead it makes when the claim comes up short
 * (nextReady) in the same round trip. Text here is frozen with the migration.
 */

export const FREE_FUNCTIONS_MIGRATION = `
-- settleFree's outcomes ($1..$13 of that statement), then claimReady's claim of p_limit
-- deliveries of p_target (none when 0). The first row carries the ids settled and the ids that
-- have a lane (left untouched); the claimed deliveries follow, in claim order. With p_look_ahead,
-- a claim that came up short is followed by one more row (looked_ahead true) whose next_at is
-- what nextReady would answer now: the earliest time a live delivery of p_target is due.
CREATE FUNCTION settle_free_and_claim(
  p_ids BIGINT[], p_epochs INTEGER[], p_status TEXT[], p_available BIGINT[], p_reason TEXT[], p_result TEXT[],
  p_attempt INTEGER[], p_started BIGINT[], p_duration INTEGER[], p_code INTEGER[], p_error TEXT[], p_response TEXT[], p_now BIGINT,
  p_target BIGINT, p_limit INTEGER, p_owner TEXT, p_lease_until BIGINT, p_look_ahead BOOLEAN)
RETURNS TABLE (settled BIGINT[], laned BIGINT[], delivery_id BIGINT, epoch INTEGER, attempts INTEGER, pk BIGINT, id TEXT, key TEXT, type TEXT,
  data TEXT, metadata TEXT, created_at BIGINT, deliver_at BIGINT, sequence BIGINT, priority SMALLINT, expires_at BIGINT,
  looked_ahead BOOLEAN, next_at BIGINT)
LANGUAGE plpgsql VOLATILE SET search_path FROM CURRENT SET plan_cache_mode = force_generic_plan SET enable_seqscan = off AS $fn$
#variable_conflict use_column
DECLARE
  v_settled BIGINT[];
  v_laned BIGINT[];
  v_claimed BIGINT;
BEGIN
  PERFORM set_config('synchronous_commit', 'off', true);
  IF cardinality(p_ids) > 0 THEN
    WITH v AS (
      SELECT * FROM unnest(p_ids, p_epochs, p_status, p_available, p_reason, p_result, p_attempt, p_started, p_duration, p_code, p_error, p_response)
        WITH ORDINALITY AS v(id, epoch, status, available_at, reason, result, attempt, started_at, duration_ms, status_code, error, response, ord)
    ), upd AS (
      UPDATE deliveries d SET status = v.status, available_at = v.available_at, lease_owner = NULL, last_error = v.reason,
        result = CASE WHEN v.status = 'delivered' THEN v.result ELSE d.result END, updated_at = p_now
      FROM v WHERE d.id = ANY(p_ids) AND d.id = v.id AND d.epoch = v.epoch AND d.status = 'delivering' AND d.lane IS NULL
      RETURNING d.id, d.target_id, d.position, d.status
    ), att AS (
      INSERT INTO attempts (delivery_id, attempt, started_at, duration_ms, status_code, error, response, fenced)
      SELECT v.id, v.attempt, v.started_at, v.duration_ms, v.status_code, v.error, v.response, upd.id IS NULL
      FROM v LEFT JOIN upd ON upd.id = v.id
      WHERE v.id IN (SELECT d.id FROM deliveries d WHERE d.id = ANY(p_ids) AND d.lane IS NULL) ORDER BY v.ord
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
    SELECT COALESCE(array_agg(upd.id), '{}') INTO v_settled FROM upd;
    v_laned := ARRAY(SELECT d.id FROM deliveries d WHERE d.id = ANY(p_ids) AND d.lane IS NOT NULL);
  END IF;
  settled := COALESCE(v_settled, '{}');
  laned := COALESCE(v_laned, '{}');
  looked_ahead := false;
  RETURN NEXT;
  IF p_limit > 0 THEN
    settled := NULL;
    laned := NULL;
    RETURN QUERY
    WITH picked AS (
      SELECT d.id, d.status, d.priority, d.available_at AS due FROM deliveries d
      WHERE d.target_id = (SELECT c.id FROM channels c LEFT JOIN channels t ON t.id = c.topic_id
          WHERE c.id = p_target AND NOT c.paused AND NOT COALESCE(t.paused, false))
        AND d.lane IS NULL AND d.available_at IS NOT NULL AND d.available_at <= p_now AND (d.expires_at IS NULL OR d.expires_at > p_now)
      ORDER BY d.priority DESC, d.available_at, d.id LIMIT p_limit
      FOR UPDATE SKIP LOCKED
    ), leased AS (
      UPDATE deliveries d SET status = 'delivering', attempts = d.attempts + 1, epoch = d.epoch + 1, lease_owner = p_owner,
        available_at = p_lease_until, updated_at = p_now
      WHERE d.id = ANY (ARRAY(SELECT picked.id FROM picked))
      RETURNING d.id, d.epoch, d.attempts, d.message_pk
    ), cnt AS (
      INSERT INTO target_counts AS c (target_id, slot, depth, in_flight, delivered, deadlettered, skipped, delivered_sequence)
      SELECT p_target, pg_backend_pid(), 0, count(*), 0, 0, 0, 0 FROM picked WHERE picked.status = 'ready'
      HAVING count(*) > 0
      ON CONFLICT (target_id, slot) DO UPDATE SET in_flight = c.in_flight + EXCLUDED.in_flight
    )
    SELECT NULL::BIGINT[], NULL::BIGINT[], l.id, l.epoch, l.attempts, m.pk, m.id, m.key, m.type, m.data, m.metadata, m.created_at,
      m.deliver_at, m.sequence, m.priority, m.expires_at, NULL::BOOLEAN, NULL::BIGINT
    FROM leased l JOIN picked p ON p.id = l.id
    CROSS JOIN LATERAL (SELECT * FROM messages m WHERE m.pk = l.message_pk OFFSET 0) m
    ORDER BY p.priority DESC, p.due, p.id;
    GET DIAGNOSTICS v_claimed = ROW_COUNT;
    IF p_look_ahead AND v_claimed < p_limit THEN
      -- A new statement: it sees the leases just taken, as nextReady after the claim would.
      looked_ahead := true;
      next_at := (SELECT MIN(d.available_at) FROM deliveries d
        WHERE d.target_id = p_target AND d.lane IS NULL AND d.available_at IS NOT NULL AND (d.expires_at IS NULL OR d.expires_at > p_now));
      RETURN NEXT;
    END IF;
  END IF;
END
$fn$;
`;
