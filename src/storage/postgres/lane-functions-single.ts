/*
 * Migration 21: the settle-and-claim of one delivery in short statements. An ordered
 * subscription with one call in flight settles one delivery per step, and the general function
 * (migrations 13 and 15, now `settle_and_claim_many`) spent about half of its time starting the
 * plan nodes of its CTE statements, most of which touch no row in that case (410–430 µs of
 * PostgreSQL CPU per step at the store level; about 200 µs in this form).
 *
 * One delivery is settled by statements that each touch one row, in the order of the general
 * function (lane lock, delivery, attempt, cursor, then the lane's head in a later statement,
 * R1). The moved lane's head is then claimed at once when the general claim would pick exactly
 * that lane: the claim is from the lane's target, one delivery per lane, the head is ready and
 * due, the target and its topic are not paused, and no other lane of the target is due (a due
 * lane waiting longer would come first). Otherwise the lane is made due and claim_lanes_from
 * claims, as before. Several deliveries, or a fenced one, take the general function unchanged.
 *
 * Bitmap scans are off too: planned for a target with a lane or two, the check that no other
 * lane is due read every due lane of the target through a bitmap of `lanes_ready` (2,000 of them
 * in the claim-plans test) where an index scan stops at the first.
 *
 * settle_and_claim keeps its signature and rows: the first row carries the ids settled, claimed
 * rows follow. Text here is frozen with the migration; a later change is a new one.
 */
export const SINGLE_SETTLE_MIGRATION = `
ALTER FUNCTION settle_and_claim(BIGINT[], INTEGER[], TEXT[], BIGINT[], TEXT[], TEXT[], INTEGER[], BIGINT[], INTEGER[], INTEGER[], TEXT[], TEXT[], BIGINT,
  BIGINT, INTEGER, INTEGER, BIGINT, TEXT, BIGINT) RENAME TO settle_and_claim_many;

CREATE FUNCTION settle_and_claim(
  p_ids BIGINT[], p_epochs INTEGER[], p_status TEXT[], p_available BIGINT[], p_reason TEXT[], p_result TEXT[],
  p_attempt INTEGER[], p_started BIGINT[], p_duration INTEGER[], p_code INTEGER[], p_error TEXT[], p_response TEXT[], p_now BIGINT,
  p_target BIGINT, p_limit INTEGER, p_batch INTEGER, p_max_wait BIGINT, p_owner TEXT, p_lease_until BIGINT)
RETURNS TABLE (settled BIGINT[], lane TEXT, delivery_id BIGINT, epoch INTEGER, attempts INTEGER, pk BIGINT, id TEXT, key TEXT, type TEXT,
  data TEXT, metadata TEXT, created_at BIGINT, deliver_at BIGINT, sequence BIGINT, priority SMALLINT, expires_at BIGINT, cursor_delivered BIGINT,
  cursor_last_id TEXT)
LANGUAGE plpgsql VOLATILE SET search_path FROM CURRENT SET plan_cache_mode = force_generic_plan SET enable_seqscan = off
  SET enable_bitmapscan = off SET jit = off AS $fn$
#variable_conflict use_column
DECLARE
  v_target BIGINT;
  v_lane TEXT;
  v_position BIGINT;
  v_message BIGINT;
  v_status TEXT;
  v_head BIGINT;
  v_head_status TEXT;
  v_head_at BIGINT;
  v_head_position BIGINT;
  v_claimed BOOLEAN := false;
  v_epoch INTEGER;
  v_attempts INTEGER;
  v_delivered BIGINT;
  v_last_id TEXT;
BEGIN
  IF cardinality(p_ids) IS DISTINCT FROM 1 THEN
    RETURN QUERY SELECT * FROM settle_and_claim_many(p_ids, p_epochs, p_status, p_available, p_reason, p_result, p_attempt, p_started,
      p_duration, p_code, p_error, p_response, p_now, p_target, p_limit, p_batch, p_max_wait, p_owner, p_lease_until);
    RETURN;
  END IF;
  PERFORM set_config('synchronous_commit', 'off', true);
  PERFORM 1 FROM deliveries d JOIN lanes l ON l.target_id = d.target_id AND l.lane = d.lane WHERE d.id = p_ids[1] FOR UPDATE OF l;
  UPDATE deliveries d SET status = p_status[1], available_at = p_available[1], lease_owner = NULL, last_error = p_reason[1],
    result = CASE WHEN p_status[1] = 'delivered' THEN p_result[1] ELSE d.result END, updated_at = p_now
  WHERE d.id = p_ids[1] AND d.epoch = p_epochs[1] AND d.status = 'delivering'
  RETURNING d.target_id, d.lane, d.position, d.message_pk, d.status INTO v_target, v_lane, v_position, v_message, v_status;
  IF NOT FOUND THEN
    -- Fenced, or gone: nothing was written; the general function records the attempt and claims.
    RETURN QUERY SELECT * FROM settle_and_claim_many(p_ids, p_epochs, p_status, p_available, p_reason, p_result, p_attempt, p_started,
      p_duration, p_code, p_error, p_response, p_now, p_target, p_limit, p_batch, p_max_wait, p_owner, p_lease_until);
    RETURN;
  END IF;
  INSERT INTO attempts (delivery_id, attempt, started_at, duration_ms, status_code, error, response, fenced)
  VALUES (p_ids[1], p_attempt[1], p_started[1], p_duration[1], p_code[1], p_error[1], p_response[1], false);
  IF v_lane IS NOT NULL AND v_status = 'delivered' THEN
    INSERT INTO lane_cursors AS lc (target_id, lane, delivered, last_id)
    VALUES (v_target, v_lane, 1, (SELECT m.id FROM messages m WHERE m.pk = v_message))
    ON CONFLICT (target_id, lane) DO UPDATE SET delivered = lc.delivered + EXCLUDED.delivered, last_id = EXCLUDED.last_id
    RETURNING lc.delivered, lc.last_id INTO v_delivered, v_last_id;
  END IF;
  settled := ARRAY[p_ids[1]];
  RETURN NEXT;
  settled := NULL;
  IF v_lane IS NOT NULL THEN
    -- A new snapshot, with the lane still locked (R1): its head now.
    SELECT d.id, d.status, d.available_at, d.position INTO v_head, v_head_status, v_head_at, v_head_position FROM deliveries d
    WHERE d.target_id = v_target AND d.lane = v_lane AND d.available_at IS NOT NULL ORDER BY d.position LIMIT 1;
    IF NOT FOUND THEN
      DELETE FROM lanes l WHERE l.target_id = v_target AND l.lane = v_lane;
    ELSE
      IF v_target = p_target AND p_limit > 0 AND p_batch = 1 AND v_head_status = 'ready' AND v_head_at <= p_now
        AND EXISTS (SELECT 1 FROM channels c LEFT JOIN channels t ON t.id = c.topic_id
          WHERE c.id = p_target AND NOT c.paused AND NOT COALESCE(t.paused, false))
        AND NOT EXISTS (SELECT 1 FROM lanes l WHERE l.target_id = p_target AND l.ready_at <= p_now
          AND (l.leased_until IS NULL OR l.leased_until <= p_now) AND l.lane <> v_lane) THEN
        UPDATE deliveries d SET status = 'delivering', attempts = d.attempts + 1, epoch = d.epoch + 1, lease_owner = p_owner,
          available_at = p_lease_until, updated_at = p_now
        WHERE d.id = v_head AND d.status = 'ready'
        RETURNING d.epoch, d.attempts INTO v_epoch, v_attempts;
        v_claimed := FOUND;
      END IF;
      IF v_claimed THEN
        UPDATE lanes l SET state = 'active', ready_at = p_lease_until, leased_until = p_lease_until, filling = false, reason = NULL, since = NULL
        WHERE l.target_id = v_target AND l.lane = v_lane;
      ELSIF v_head_status <> 'delivering' THEN
        UPDATE lanes l SET state = 'active', ready_at = GREATEST(p_now, v_head_at), leased_until = NULL, reason = NULL, since = NULL
        WHERE l.target_id = v_target AND l.lane = v_lane;
      END IF;
    END IF;
  END IF;
  -- The settled delivery leaves the depth and the flight; a claimed head enters the flight.
  INSERT INTO target_counts AS c (target_id, slot, depth, in_flight, delivered, deadlettered, skipped, delivered_sequence)
  VALUES (v_target, pg_backend_pid(), -1, CASE WHEN v_claimed THEN 0 ELSE -1 END,
    CASE WHEN v_status = 'delivered' THEN 1 ELSE 0 END, CASE WHEN v_status = 'deadlettered' THEN 1 ELSE 0 END, 0,
    CASE WHEN v_status = 'delivered' THEN v_position ELSE 0 END)
  ON CONFLICT (target_id, slot) DO UPDATE SET depth = c.depth + EXCLUDED.depth, in_flight = c.in_flight + EXCLUDED.in_flight,
    delivered = c.delivered + EXCLUDED.delivered, deadlettered = c.deadlettered + EXCLUDED.deadlettered,
    delivered_sequence = GREATEST(c.delivered_sequence, EXCLUDED.delivered_sequence);
  IF v_claimed THEN
    IF v_status <> 'delivered' THEN
      SELECT lc.delivered, lc.last_id INTO v_delivered, v_last_id FROM lane_cursors lc WHERE lc.target_id = v_target AND lc.lane = v_lane;
    END IF;
    RETURN QUERY SELECT NULL::BIGINT[], v_lane, v_head, v_epoch, v_attempts, m.pk, m.id, m.key, m.type, m.data, m.metadata, m.created_at,
      m.deliver_at, m.sequence, m.priority, m.expires_at, v_delivered, v_last_id
    FROM deliveries d JOIN messages m ON m.pk = d.message_pk WHERE d.id = v_head;
  ELSIF p_limit > 0 THEN
    RETURN QUERY SELECT NULL::BIGINT[], c.* FROM claim_lanes_from(p_target, p_now, p_limit, p_batch, p_max_wait, p_owner, p_lease_until,
      CASE WHEN v_target = p_target AND v_head IS NOT NULL THEN ARRAY[v_lane] ELSE '{}'::TEXT[] END,
      CASE WHEN v_target = p_target AND v_head IS NOT NULL THEN ARRAY[v_head_position] ELSE '{}'::BIGINT[] END) c;
  END IF;
END
$fn$;
`;
