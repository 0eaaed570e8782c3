/*
 * Migration 16: storing queue and fifo messages as a function with generic plans. The statement
 * (its deliveries, lanes and counters in one CTE) took PostgreSQL longer to plan than to run, and
 * a prepared statement kept being planned for each call: a generic plan's estimate of an unnest
 * over a parameter array is 10 rows, so it never looked cheaper than a plan for the one message
 * of a typical send. In a function with `plan_cache_mode = force_generic_plan` it is planned once
 * per connection; the plan holds for any batch (every lookup is by key). The application's own
 * connections (the outbox) get the same cached plan, where the bare statement, unnamed, was
 * planned on every send. Text here is frozen with the migration; a later change is a new one.
 */
import { MAX_DATE_MS } from '../../domain/message.js';

export const ENQUEUE_FUNCTION_MIGRATION = `
-- Queue and fifo messages with their deliveries and (fifo) lanes, as the insertQueued statement
-- did: p_laned says whether the channel has lanes; expiry p_expires_at, else the queue's ttl from
-- when due; NOTIFY p_wake (unless null) with p_channel_name when anything was inserted.
CREATE FUNCTION enqueue_messages(p_channel BIGINT, p_ids TEXT[], p_keys TEXT[], p_types TEXT[], p_data TEXT[], p_metadata TEXT[],
  p_deliver_at BIGINT[], p_now BIGINT, p_laned BOOLEAN, p_wake TEXT, p_channel_name TEXT, p_priorities SMALLINT[], p_expires_at BIGINT[])
RETURNS TABLE (id TEXT, available_at BIGINT, woke BIGINT)
LANGUAGE plpgsql VOLATILE SET search_path FROM CURRENT SET plan_cache_mode = force_generic_plan AS $fn$
#variable_conflict use_column
BEGIN
  RETURN QUERY
  WITH ins AS (
    INSERT INTO messages (channel_id, id, key, type, data, metadata, created_at, deliver_at, priority, expires_at)
    SELECT p_channel, i.id, i.key, i.type, i.data, i.metadata, p_now, i.deliver_at, i.priority,
      COALESCE(i.expires_at, (SELECT LEAST(GREATEST(p_now, COALESCE(i.deliver_at, p_now)) + c.ttl_ms, ${MAX_DATE_MS})
        FROM channels c WHERE c.id = p_channel AND c.kind = 'queue' AND c.ttl_ms IS NOT NULL))
    FROM unnest(p_ids, p_keys, p_types, p_data, p_metadata, p_deliver_at, p_priorities, p_expires_at) WITH ORDINALITY
      AS i(id, key, type, data, metadata, deliver_at, priority, expires_at, ord)
    ORDER BY i.ord
    ON CONFLICT (id, channel_id) DO NOTHING
    RETURNING pk, id, key, priority, expires_at, GREATEST(p_now, COALESCE(deliver_at, p_now)) AS available_at
  ), dlv AS (
    INSERT INTO deliveries (message_pk, target_id, lane, position, status, attempts, available_at, updated_at, priority, expires_at)
    SELECT ins.pk, p_channel, CASE WHEN p_laned THEN COALESCE(ins.key, '') END, ins.pk, 'ready', 0, ins.available_at, p_now, ins.priority, ins.expires_at
    FROM ins ORDER BY ins.pk
  ), lane AS (
    -- DO UPDATE that never writes (WHERE false) locks an existing lane until commit, and inserts
    -- a new one when that row is deleted under it (lanes.ts).
    INSERT INTO lanes (target_id, lane, state, ready_at)
    SELECT DISTINCT ON (COALESCE(ins.key, '')) p_channel, COALESCE(ins.key, ''), 'active', ins.available_at FROM ins
    WHERE p_laned ORDER BY COALESCE(ins.key, ''), ins.pk
    ON CONFLICT (target_id, lane) DO UPDATE SET ready_at = lanes.ready_at WHERE false
  ), cnt AS (
    INSERT INTO target_counts AS c (target_id, slot, depth, in_flight, delivered, deadlettered, skipped, delivered_sequence)
    SELECT p_channel, pg_backend_pid(), count(*), 0, 0, 0, 0, 0 FROM ins HAVING count(*) > 0
    ON CONFLICT (target_id, slot) DO UPDATE SET depth = c.depth + EXCLUDED.depth
  )
  SELECT ins.id, ins.available_at, (SELECT count(*) FROM (SELECT pg_notify(p_wake, p_channel_name) WHERE p_wake IS NOT NULL) n)
  FROM ins;
END
$fn$;
`;
