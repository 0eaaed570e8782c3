/*
 * Migration 33: the live deliveries a drain looks at, as a function planned like the claims.
 *
 * listLive asks for the first few live deliveries of a target: an unordered one's in the order
 * they were stored, through deliveries_live; an ordered one's by lane and position, through
 * deliveries_lane. As prepared statements, planned with the statistics of the moment, tables
 * analysed while nearly empty got a bitmap scan of every live delivery (or every lane) of the
 * target and a sort, to return ten: 155 ms for a queue holding 40,000 messages. A function with
 * sorts, bitmap and sequential scans off reads them in index order and stops at the limit. Text
 * here is frozen with the migration.
 */
/** A live delivery with its message's id, key and type, its target's and channel's names and pause (its lane is joined after). */
const SELECT_LIVE = `    SELECT d.id, tc.name, mc.name, m.id, m.key, m.type, d.lane, d.status, d.attempts, d.available_at, d.last_error, l.state,
      CASE WHEN d.status = 'delivering' AND d.deferred_epoch = d.epoch THEN d.deferred_until END,
      l.leased_until, d.epoch,
      (d.lane IS NOT NULL AND d.position = (SELECT h.position FROM deliveries h
        WHERE h.target_id = d.target_id AND h.lane = d.lane AND h.live ORDER BY h.position LIMIT 1)),
      (tc.paused OR COALESCE(tp.paused, false))
    FROM deliveries d JOIN messages m ON m.pk = d.message_pk JOIN channels tc ON tc.id = d.target_id
    JOIN channels mc ON mc.id = m.channel_id LEFT JOIN channels tp ON tp.id = tc.topic_id
`;

export const LIST_LIVE_MIGRATION = `
CREATE FUNCTION list_live(p_target BIGINT, p_laned BOOLEAN, p_limit INTEGER)
RETURNS TABLE (delivery_id BIGINT, target_name TEXT, channel_name TEXT, id TEXT, key TEXT, type TEXT, lane TEXT, status TEXT,
  attempts INTEGER, available_at BIGINT, last_error TEXT, lane_state TEXT, deferred_until BIGINT, lane_leased_until BIGINT,
  epoch INTEGER, is_head BOOLEAN, paused BOOLEAN)
LANGUAGE plpgsql STABLE SET search_path FROM CURRENT SET plan_cache_mode = force_generic_plan SET enable_seqscan = off
  SET enable_bitmapscan = off SET enable_sort = off SET jit = off AS $fn$
#variable_conflict use_column
BEGIN
  IF p_laned THEN
    RETURN QUERY
${SELECT_LIVE}    LEFT JOIN LATERAL (SELECT l.state, l.leased_until FROM lanes l WHERE l.target_id = d.target_id AND l.lane = d.lane OFFSET 0) l ON true
    WHERE d.target_id = p_target AND d.lane IS NOT NULL AND d.live ORDER BY d.lane, d.position LIMIT p_limit;
  ELSE
    RETURN QUERY
${SELECT_LIVE}    LEFT JOIN lanes l ON false
    WHERE d.target_id = p_target AND d.lane IS NULL AND d.live ORDER BY d.position LIMIT p_limit;
  END IF;
END
$fn$;
`;
