import { MAX_DATE_MS } from '../../domain/message.js';
import { quoteIdent } from './connection.js';
import { countInto, MESSAGE_COLUMNS, statementFactory, type Statement } from './statements.js';

/** Statements of inspection and operator actions: not on the delivery hot path. */
export function adminStatements(schema: string) {
  const st = statementFactory(schema);
  const select = (s: string) => `SELECT d.id AS delivery_id, tc.name AS target_name, mc.name AS channel_name, d.lane, d.status, d.attempts,
    d.available_at, d.last_error, d.result, d.updated_at, ${MESSAGE_COLUMNS}, l.state AS lane_state,
    (d.live AND d.lane IS NOT NULL AND d.position = (SELECT MIN(h.position) FROM ${s}.deliveries h
      WHERE h.target_id = d.target_id AND h.lane = d.lane AND h.live))::int AS is_head
    FROM ${s}.deliveries d JOIN ${s}.messages m ON m.pk = d.message_pk JOIN ${s}.channels tc ON tc.id = d.target_id
    JOIN ${s}.channels mc ON mc.id = m.channel_id LEFT JOIN ${s}.lanes l ON l.target_id = d.target_id AND l.lane = d.lane`;
  // A purged delivery's message goes with it when none of its deliveries is left (the statement's
  // snapshot still shows the rows `d` deletes, so those are set aside by id).
  const purgedMessages = (s: string) => `gone AS (DELETE FROM ${s}.messages m WHERE m.pk = ANY (ARRAY(SELECT message_pk FROM d))
        AND NOT EXISTS (SELECT 1 FROM ${s}.deliveries o WHERE o.message_pk = m.pk AND o.id <> ALL (ARRAY(SELECT id FROM d))))`;
  const byIds = (s: string) => `message_pk IN (SELECT pk FROM ${s}.messages WHERE id = ANY($4::text[]))`;
  // Redrive and redeliver: final deliveries become live again, then their lanes are upserted.
  // DO UPDATE (not DO NOTHING) locks an existing lane, or re-creates one deleted meanwhile (lanes.ts, R2).
  // A reopened delivery that expires gets its time to live again, counted from now: the span its
  // message had from when it was due until it expired, never past the latest time a Date holds.
  const reopen = (s: string, filter: string) => `WITH r AS (
      UPDATE ${s}.deliveries d SET status = 'ready', attempts = 0, available_at = $3, last_error = NULL, updated_at = $3,
        expires_at = CASE WHEN d.expires_at IS NULL THEN NULL ELSE LEAST(${MAX_DATE_MS}, $3 + (SELECT GREATEST(0, m.expires_at - GREATEST(m.created_at, COALESCE(m.deliver_at, 0)))
          FROM ${s}.messages m WHERE m.pk = d.message_pk)) END
      WHERE target_id = $1 AND final_status = $2 ${filter} RETURNING lane, message_pk, d.expires_at
    ), e AS (
      UPDATE ${s}.messages m SET expires_at = r.expires_at FROM r WHERE m.pk = r.message_pk AND r.expires_at IS NOT NULL
    ), w AS (
      INSERT INTO ${s}.lanes (target_id, lane, state, ready_at)
      SELECT DISTINCT $1::bigint, lane, 'active', $3::bigint FROM r WHERE lane IS NOT NULL ORDER BY 2
      ON CONFLICT (target_id, lane) DO UPDATE SET ready_at = LEAST(COALESCE(lanes.ready_at, EXCLUDED.ready_at), EXCLUDED.ready_at)
      WHERE lanes.state = 'active'
    ), cnt AS (
      ${countInto(s, `SELECT $1::bigint, 1, 0, 0, -($2 = 'deadlettered')::int, -($2 = 'skipped')::int, 0::bigint FROM r`)}
    )
    SELECT COUNT(*) AS n FROM r`;
  return {
    byMessageId: st('a_by_msg', (s) => `${select(s)} WHERE m.id = $1 ORDER BY d.id`),
    byChannelAndId: st('a_by_chan_msg', (s) => `${select(s)} WHERE m.id = $1 AND m.channel_id = $2 ORDER BY d.id`),
    /** Topic messages no subscription took (filters), which the delivery lookups above cannot find. $1 id, $2 channel or null. */
    undelivered: st('a_undelivered', (s) => `SELECT ${MESSAGE_COLUMNS}, mc.name AS channel_name FROM ${s}.messages m JOIN ${s}.channels mc ON mc.id = m.channel_id
      WHERE m.id = $1 AND ($2::bigint IS NULL OR m.channel_id = $2) AND NOT EXISTS (SELECT 1 FROM ${s}.deliveries d WHERE d.message_pk = m.pk)`),
    byDeliveryId: st('a_by_delivery', (s) => `${select(s)} WHERE d.id = $1`),
    finalPage: st('a_final_page', (s) => `${select(s)} WHERE d.target_id = $1 AND d.final_status = $2 AND d.id > $3
      ORDER BY d.id LIMIT $4`),
    byMessagePks: st('a_by_msg_pks', (s) => `${select(s)} WHERE d.message_pk = ANY($1::bigint[]) ORDER BY d.id`),
    /** The lowest and highest message pk: the search's window (message-search.ts), each end read from the primary key. */
    pkBounds: st('a_pk_bounds', (s) => `SELECT (SELECT MIN(pk) FROM ${s}.messages) AS min, (SELECT MAX(pk) FROM ${s}.messages) AS max`),
    /** The explorer's search: conditions from message-search.ts, one text per combination of filters. */
    search: (where: string[], limitParam: string): Statement => ({
      name: '',
      text: `SELECT ${MESSAGE_COLUMNS}, mc.name AS channel_name FROM ${quoteIdent(schema)}.messages m
        JOIN ${quoteIdent(schema)}.channels mc ON mc.id = m.channel_id
        ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY m.pk DESC LIMIT ${limitParam}`,
    }),
    table: (name: string) => `${quoteIdent(schema)}.${name}`,
    attempts: st('a_attempts', (s) => `SELECT delivery_id, attempt, started_at, duration_ms, status_code, error, response, fenced
      FROM ${s}.attempts WHERE delivery_id = ANY($1::bigint[]) ORDER BY delivery_id, id`),

    /**
     * One row per target: the counters summed over their slots, the oldest live message through
     * deliveries_live (positions follow creation order), the blocked lanes through lanes_blocked.
     * Nothing here grows with the messages kept.
     */
    stats: st('a_stats', (s) => `SELECT c.id, c.name, c.kind, c.paused, c.last_sequence, c.swept_sequence, c.filter,
        COALESCE(k.depth, 0) AS depth, COALESCE(k.in_flight, 0) AS in_flight, COALESCE(k.delivered, 0) AS delivered,
        COALESCE(k.deadlettered, 0) AS deadlettered, COALESCE(k.skipped, 0) AS skipped, COALESCE(k.delivered_sequence, 0) AS delivered_sequence,
        (SELECT m.created_at FROM ${s}.deliveries d JOIN ${s}.messages m ON m.pk = d.message_pk
          WHERE d.target_id = c.id AND d.live ORDER BY d.position LIMIT 1) AS oldest,
        (SELECT COUNT(*) FROM ${s}.lanes l WHERE l.target_id = c.id AND l.state = 'parked') AS parked,
        (SELECT COUNT(*) FROM ${s}.lanes l WHERE l.target_id = c.id AND l.state = 'stalled') AS stalled
      FROM ${s}.channels c LEFT JOIN (
        SELECT target_id, SUM(depth)::bigint AS depth, SUM(in_flight)::bigint AS in_flight, SUM(delivered)::bigint AS delivered,
          SUM(deadlettered)::bigint AS deadlettered, SUM(skipped)::bigint AS skipped, MAX(delivered_sequence) AS delivered_sequence
        FROM ${s}.target_counts GROUP BY target_id
      ) k ON k.target_id = c.id
      ORDER BY c.id`),
    setPaused: st('a_set_paused', (s) => `UPDATE ${s}.channels SET paused = $2 WHERE id = $1`),

    blockedLanes: st('a_blocked_lanes', (s) => `SELECT lane, state, reason, since FROM ${s}.lanes
      WHERE target_id = $1 AND state <> 'active' AND ($2::text IS NULL OR lane > $2) ORDER BY lane LIMIT $3`),
    lane: st('a_lane', (s) => `SELECT lane, state, reason, since FROM ${s}.lanes WHERE target_id = $1 AND lane = $2`),
    lanePending: st('a_lane_pending', (s) => `SELECT COUNT(*) AS n FROM ${s}.deliveries WHERE target_id = $1 AND lane = $2 AND live`),
    laneHead: st('a_lane_head', (s) => `SELECT id, status, attempts, available_at FROM ${s}.deliveries
      WHERE target_id = $1 AND lane = $2 AND live ORDER BY position LIMIT 1`),
    lockLane: st('a_lock_lane', (s) => `SELECT state FROM ${s}.lanes WHERE target_id = $1 AND lane = $2 FOR UPDATE`),
    /** Also the lane's lock: the first statement of retryLane. */
    retryLane: st('a_retry_lane', (s) => `UPDATE ${s}.lanes SET state = 'active', reason = NULL, since = NULL, ready_at = $3
      WHERE target_id = $1 AND lane = $2`),
    /** An operator's retry gives the head a fresh budget of attempts, as a redrive does. */
    makeReady: st('a_make_ready', (s) => `UPDATE ${s}.deliveries SET attempts = 0, available_at = $2, updated_at = $2 WHERE id = $1 AND status = 'ready'`),
    skip: st('a_skip', (s) => `WITH k AS (
        UPDATE ${s}.deliveries SET status = 'skipped', available_at = NULL, updated_at = $2 WHERE id = $1 RETURNING target_id
      )
      ${countInto(s, `SELECT target_id, -1, 0, 0, 0, 1, 0::bigint FROM k`)}`),
    deleteLane: st('a_delete_lane', (s) => `DELETE FROM ${s}.lanes WHERE target_id = $1 AND lane = $2`),
    reopenIds: st('a_reopen_ids', (s) => reopen(s, `AND ${byIds(s)}`)),
    reopenDeliveries: st('a_reopen_deliveries', (s) => reopen(s, 'AND d.id = ANY($4::bigint[])')),
    lastDelivery: st('a_last_delivery', (s) => `SELECT COALESCE(MAX(id), 0) AS id FROM ${s}.deliveries`),
    /** The next chunk of a final list: $1 target, $2 status, after $3, up to $4, $5 of them. */
    finalChunk: st('a_final_chunk', (s) => `SELECT id FROM ${s}.deliveries WHERE target_id = $1 AND final_status = $2 AND id > $3 AND id <= $4 ORDER BY id LIMIT $5`),

    purgeDeliveries: st('a_purge_deliveries', (s) => `WITH d AS (DELETE FROM ${s}.deliveries WHERE target_id = $1 AND final_status = 'deadlettered'
      AND id = ANY($2::bigint[]) RETURNING id, target_id, message_pk),
      cnt AS (${countInto(s, `SELECT target_id, 0, 0, 0, -1, 0, 0::bigint FROM d`)}),
      ${purgedMessages(s)}
      SELECT COUNT(*) AS n FROM d`),
    purgeIds: st('a_purge_ids', (s) => `WITH d AS (DELETE FROM ${s}.deliveries WHERE target_id = $1 AND final_status = 'deadlettered'
      AND message_pk IN (SELECT pk FROM ${s}.messages WHERE id = ANY($2::text[])) RETURNING id, target_id, message_pk),
      cnt AS (${countInto(s, `SELECT target_id, 0, 0, 0, -1, 0, 0::bigint FROM d`)}),
      ${purgedMessages(s)}
      SELECT COUNT(*) AS n FROM d`),
    /** Live deliveries of target $1 without payloads, with their lane's state, head flag and pause: laned $2, at most $3 (migration 33). */
    liveList: st('a_live_list', (s) => `SELECT * FROM ${s}.list_live($1, $2, $3)`),
    /** Unordered waiting retries of targets $1 become due at $2. */
    hurryUnordered: st('a_hurry_unordered', (s) => `UPDATE ${s}.deliveries SET available_at = $2, updated_at = $2
      WHERE target_id = ANY($1::bigint[]) AND free_at > $2 AND status = 'ready' AND attempts > 0`),
    /** Hurry step 1: lock the active lanes of targets $1 that wait ($2 now) and are not in flight, in settlement order (lanes.ts, R3). */
    lockWaitingLanes: st('a_lock_waiting_lanes', (s) => `SELECT l.target_id, l.lane FROM ${s}.lanes l
      WHERE l.target_id = ANY($1::bigint[]) AND l.state = 'active' AND l.ready_at > $2 AND (l.leased_until IS NULL OR l.leased_until <= $2)
      ORDER BY l.target_id, l.lane
      FOR UPDATE OF l`),
    /** Hurry step 2 (a new snapshot, lanes held): heads of these lanes ($1, $2) waiting for a retry become due at $3, and so do their lanes. */
    hurryHeads: st('a_hurry_heads', (s) => `WITH heads AS (
        SELECT h.id FROM unnest($1::bigint[], $2::text[]) AS v(target_id, lane)
        CROSS JOIN LATERAL (
          SELECT d.id, d.status, d.attempts, d.available_at FROM ${s}.deliveries d
          WHERE d.target_id = v.target_id AND d.lane = v.lane AND d.live ORDER BY d.position LIMIT 1
        ) h
        WHERE h.status = 'ready' AND h.attempts > 0 AND h.available_at > $3
      ), due AS (
        UPDATE ${s}.deliveries d SET available_at = $3, updated_at = $3 FROM heads WHERE d.id = heads.id RETURNING d.target_id, d.lane
      ), moved AS (
        UPDATE ${s}.lanes l SET ready_at = $3 FROM due WHERE l.target_id = due.target_id AND l.lane = due.lane
      )
      SELECT COUNT(*) AS n FROM due`),
    listBreakers: st('a_list_breakers', (s) => `SELECT origin, state, open_until, reason, updated_at FROM ${s}.breakers ORDER BY origin`),
    /** The newest transition per origin wins, whichever instance records it first. */
    saveBreaker: st('a_save_breaker', (s) => `INSERT INTO ${s}.breakers (origin, state, open_until, reason, updated_at) VALUES ($1, $2, $3, $4, $5)
      ON CONFLICT (origin) DO UPDATE SET state = EXCLUDED.state, open_until = EXCLUDED.open_until, reason = EXCLUDED.reason,
        updated_at = EXCLUDED.updated_at
      WHERE EXCLUDED.updated_at >= breakers.updated_at`),
  };
}

export type AdminStatements = ReturnType<typeof adminStatements>;
