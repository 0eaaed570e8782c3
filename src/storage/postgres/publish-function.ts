/*
 * Migration 18: a topic publish as one function call, planned once per connection. A publish
 * took a transaction of four round trips (BEGIN, reserve the sequences under the topic's row
 * lock, insert and fan out, COMMIT), its insert planned again at every call for the reason
 * migration 16 gives. publish_messages does the same steps in the same order, in one statement:
 * it runs on its own (its own transaction) or inside the application's (the outbox). Text here is
 * frozen with the migration; a later change is a new one.
 */

export const PUBLISH_FUNCTION_MIGRATION = `
-- Topic messages numbered from the topic's last sequence on, under its row lock (held until
-- commit: sequences become visible in commit order), fanned out to every subscription of the topic
-- whose filter they pass, with their lanes; a lane waiting for its batch to fill is made due now.
-- Ids already stored are skipped and the others renumbered without holes. NOTIFY p_wake (unless
-- null) with p_channel_name when anything was inserted. Returns the inserted ids with their sequences.
CREATE FUNCTION publish_messages(p_channel BIGINT, p_ids TEXT[], p_keys TEXT[], p_types TEXT[], p_data TEXT[], p_metadata TEXT[],
  p_deliver_at BIGINT[], p_now BIGINT, p_wake TEXT, p_channel_name TEXT)
RETURNS TABLE (id TEXT, pk BIGINT, sequence BIGINT)
LANGUAGE plpgsql VOLATILE SET search_path FROM CURRENT SET plan_cache_mode = force_generic_plan AS $fn$
#variable_conflict use_column
DECLARE
  v_count INTEGER := cardinality(p_ids);
  v_base BIGINT;
  v_pks BIGINT[];
  v_ids TEXT[];
BEGIN
  UPDATE channels c SET last_sequence = c.last_sequence + v_count WHERE c.id = p_channel RETURNING c.last_sequence - v_count INTO v_base;
  WITH ins AS (
    INSERT INTO messages (channel_id, id, key, type, data, metadata, created_at, deliver_at, sequence)
    SELECT p_channel, i.id, i.key, i.type, i.data, i.metadata, p_now, i.deliver_at, v_base + i.ord
    FROM unnest(p_ids, p_keys, p_types, p_data, p_metadata, p_deliver_at) WITH ORDINALITY AS i(id, key, type, data, metadata, deliver_at, ord)
    ORDER BY i.ord
    ON CONFLICT (id, channel_id) DO NOTHING
    RETURNING pk, id, key, type, sequence, GREATEST(p_now, COALESCE(deliver_at, p_now)) AS available_at
  ), x AS (
    SELECT ins.pk, ins.sequence, ins.available_at, c.id AS target_id, CASE c.ordering WHEN 'key' THEN COALESCE(ins.key, '') ELSE '' END AS lane
    FROM ins JOIN channels c ON c.topic_id = p_channel
      AND (c.filter_types IS NULL OR ins.type COLLATE "C" LIKE ANY (c.filter_types))
      AND (c.filter_keys IS NULL OR ins.key COLLATE "C" LIKE ANY (c.filter_keys))
  ), fan AS (
    INSERT INTO deliveries (message_pk, target_id, lane, position, status, attempts, available_at, updated_at)
    SELECT x.pk, x.target_id, x.lane, x.sequence, 'ready', 0, x.available_at, p_now FROM x ORDER BY x.target_id, x.sequence
  ), lane AS (
    INSERT INTO lanes (target_id, lane, state, ready_at)
    SELECT DISTINCT ON (x.target_id, x.lane) x.target_id, x.lane, 'active', x.available_at FROM x
    ORDER BY x.target_id, x.lane, x.sequence
    ON CONFLICT (target_id, lane) DO UPDATE SET ready_at = EXCLUDED.ready_at, filling = false WHERE lanes.filling
  ), cnt AS (
    INSERT INTO target_counts AS c (target_id, slot, depth, in_flight, delivered, deadlettered, skipped, delivered_sequence)
    SELECT x.target_id, pg_backend_pid(), count(*), 0, 0, 0, 0, 0 FROM x GROUP BY x.target_id
    ON CONFLICT (target_id, slot) DO UPDATE SET depth = c.depth + EXCLUDED.depth
  )
  SELECT COALESCE(array_agg(ins.pk ORDER BY ins.sequence), '{}'), COALESCE(array_agg(ins.id ORDER BY ins.sequence), '{}')
  INTO v_pks, v_ids FROM ins;
  IF cardinality(v_pks) > 0 AND p_wake IS NOT NULL THEN
    PERFORM pg_notify(p_wake, p_channel_name);
  END IF;
  IF cardinality(v_pks) < v_count THEN
    -- Duplicates left holes in the reserved range: renumber, still under the lock, and give the rest back.
    WITH fix AS (SELECT f.pk, v_base + f.k AS seq FROM unnest(v_pks) WITH ORDINALITY AS f(pk, k)),
    msg AS (UPDATE messages m SET sequence = fix.seq FROM fix WHERE m.pk = ANY(v_pks) AND m.pk = fix.pk),
    dlv AS (UPDATE deliveries d SET position = fix.seq FROM fix WHERE d.message_pk = ANY(v_pks) AND d.message_pk = fix.pk)
    UPDATE channels c SET last_sequence = v_base + cardinality(v_pks) WHERE c.id = p_channel;
  END IF;
  RETURN QUERY SELECT u.id, u.pk, v_base + u.k FROM unnest(v_ids, v_pks) WITH ORDINALITY AS u(id, pk, k);
END
$fn$;
`;
