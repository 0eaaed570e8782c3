import { createHash } from 'node:crypto';
import { quoteIdent } from './connection.js';

/** One SQL statement, schema-qualified and parameterized. `name` identifies it as a prepared statement. */
export interface Statement {
  name: string;
  text: string;
}

/** NOTIFY channel $1 with payload $2 (a wake-up or a hold), delivered when its transaction commits. */
export const NOTIFY: Statement = { name: 'offload_notify', text: 'SELECT pg_notify($1, $2)' };

/** Columns rowToMessage reads, from `messages m`. */
export const MESSAGE_COLUMNS = 'm.pk, m.id, m.key, m.type, m.data, m.metadata, m.created_at, m.deliver_at, m.sequence, m.priority, m.expires_at';

/** Builds statements for one schema: every name is qualified, so they also run on an application's client (outbox). */
export function statementFactory(schema: string): (key: string, text: (s: string) => string) => Statement {
  const s = quoteIdent(schema);
  // Prepared statement names are cut at 63 bytes by the server: keep them short and schema-specific.
  const tag = createHash('sha1').update(schema).digest('hex').slice(0, 8);
  return (key, text) => ({ name: `ofl_${tag}_${key}`, text: text(s) });
}

/**
 * A CTE body adding changes to the per-target counters. `source` yields one row per changed
 * delivery: (target_id, depth, in_flight, delivered, deadlettered, skipped, delivered_sequence).
 * Each connection adds to its own row per target (slot = its backend pid), so concurrent
 * transactions, an application's long outbox transaction included, never wait on each other
 * here; stats() sums the slots and sweep folds them into slot 0.
 */
export function countInto(s: string, source: string): string {
  return `INSERT INTO ${s}.target_counts AS c (target_id, slot, depth, in_flight, delivered, deadlettered, skipped, delivered_sequence)
    SELECT x.target_id, pg_backend_pid(), SUM(x.depth), SUM(x.in_flight), SUM(x.delivered), SUM(x.deadlettered), SUM(x.skipped), MAX(x.delivered_sequence)
    FROM (${source}) AS x(target_id, depth, in_flight, delivered, deadlettered, skipped, delivered_sequence)
    GROUP BY x.target_id
    HAVING SUM(abs(x.depth) + abs(x.in_flight) + x.delivered + abs(x.deadlettered) + abs(x.skipped)) > 0
    ON CONFLICT (target_id, slot) DO UPDATE SET depth = c.depth + EXCLUDED.depth, in_flight = c.in_flight + EXCLUDED.in_flight,
      delivered = c.delivered + EXCLUDED.delivered, deadlettered = c.deadlettered + EXCLUDED.deadlettered,
      skipped = c.skipped + EXCLUDED.skipped, delivered_sequence = GREATEST(c.delivered_sequence, EXCLUDED.delivered_sequence)`;
}

/**
 * SQL condition: the message of type `type` and key `key` (SQL expressions) passes the filter of
 * subscription `c` (a `channels` row): it has none, or a type pattern matches and, when key
 * patterns are stored, a key pattern too (a message without a key then does not pass).
 */
export function passesFilter(c: string, type: string, key: string): string {
  return `(${c}.filter_types IS NULL OR (${type}) COLLATE "C" LIKE ANY (${c}.filter_types))
          AND (${c}.filter_keys IS NULL OR (${key}) COLLATE "C" LIKE ANY (${c}.filter_keys))`;
}

/** A filter pattern (src/domain/subscription-filter.ts) as a LIKE pattern (escape `\`): `*` becomes `%`; `%`, `_` and `\` are escaped. */
export function toLike(pattern: string): string {
  return pattern.replace(/[\\%_]/g, (c) => `\\${c}`).replace(/\*/g, '%');
}

/** Statements of the delivery hot path: send, claim, renew, settle, release. */
export function hotStatements(schema: string) {
  const st = statementFactory(schema);
  return {
    channels: st('channels', (s) => `SELECT c.id, c.name, c.kind, c.topic_id, t.name AS topic_name, c.ordering
      FROM ${s}.channels c LEFT JOIN ${s}.channels t ON t.id = c.topic_id`),

    /**
     * Queue and fifo messages with their deliveries and (fifo) lanes, one round trip: the function
     * from migration 16 (enqueue-function.ts), planned once per connection. When anything was
     * inserted, NOTIFY $10 (unless null) with the channel name $11: delivered to listeners at
     * commit. $1 channel, $2..$7 message columns, $8 now, $9 whether the channel has lanes, $12
     * priorities, $13 expiry times (null: the queue's ttl, if any, from when due, never past the
     * latest time a Date holds).
     */
    insertQueued: st('ins_queued', (s) => `SELECT * FROM ${s}.enqueue_messages($1::bigint, $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
      $7::bigint[], $8::bigint, $9::boolean, $10::text, $11::text, $12::smallint[], $13::bigint[])`),
    /** insertQueued, then a claim from the queue for this instance in the same transaction (migration 36). */
    insertQueuedAndClaim: st('ins_queued_claim', (s) => `SELECT * FROM ${s}.enqueue_and_claim($1::bigint, $2::text[], $3::text[], $4::text[], $5::text[],
      $6::text[], $7::bigint[], $8::bigint, $9::boolean, $10::text, $11::text, $12::smallint[], $13::bigint[], $14::integer, $15::text, $16::bigint)`),

    /**
     * Topic messages, numbered under the topic's row lock and fanned out to its subscriptions, in
     * one round trip: the function from migration 18 (publish-function.ts). $1 channel, $2..$7
     * message columns, $8 now, $9 NOTIFY channel (or null), $10 the topic's name. Returns the
     * inserted ids with their sequences.
     */
    publishMessages: st('publish', (s) => `SELECT * FROM ${s}.publish_messages($1::bigint, $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
      $7::bigint[], $8::bigint, $9::text, $10::text)`),

    duplicateStatus: st('dup_status', (s) => `SELECT m.id, d.status, d.attempts, d.available_at, m.sequence, l.state AS lane_state,
      (d.live AND d.lane IS NOT NULL AND d.position = (SELECT MIN(h.position) FROM ${s}.deliveries h
        WHERE h.target_id = d.target_id AND h.lane = d.lane AND h.live)) AS is_head
      FROM ${s}.messages m LEFT JOIN ${s}.deliveries d ON d.message_pk = m.pk
      LEFT JOIN ${s}.lanes l ON l.target_id = d.target_id AND l.lane = d.lane
      WHERE m.channel_id = $1 AND m.id = ANY($2::text[]) ORDER BY m.id, d.id`),

    /**
     * Ordered claim (fifo queues, ordered subscriptions) in one round trip: the function from
     * migration 13 (lane-functions.ts) locks the claimable lanes, reads their heads in a later
     * statement and leases them. $1 target, $2 now, $3 limit, $4 batch size, $5 max batch wait,
     * $6 owner, $7 lease expiry.
     */
    claimLanes: st('claim_lanes', (s) => `SELECT * FROM ${s}.claim_lanes($1, $2, $3, $4, $5, $6, $7)`),

    /**
     * Delivered and dead-lettered outcomes with their lanes moved on, then an ordered claim, in
     * one round trip (migration 13). $1..$13 as settleDeliveries, $14..$19 as claimLanes' $1, $3..$7
     * ($15 limit 0: settle only). The first row's `settled` lists the ids settled.
     */
    settleAndClaim: st('settle_claim', (s) => `SELECT * FROM ${s}.settle_and_claim($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13,
      $14, $15, $16, $17, $18, $19)`),

    /**
     * Settle and release step 1: lock the lanes of these deliveries, in a fixed order (no deadlocks
     * between batches). A nested loop over the sorted lanes locks each in that order, found by its
     * key: a join with `lanes` could be planned (generically) as a scan of every lane.
     */
    lockLanesOf: st('lock_lanes_of', (s) => `SELECT l.target_id, l.lane, l.state
      FROM (SELECT DISTINCT d.target_id, d.lane FROM ${s}.deliveries d WHERE d.id = ANY($1::bigint[]) AND d.lane IS NOT NULL ORDER BY 1, 2) x
      CROSS JOIN LATERAL (SELECT l.target_id, l.lane, l.state FROM ${s}.lanes l WHERE l.target_id = x.target_id AND l.lane = x.lane FOR UPDATE) l`),

    /**
     * Settle step 2: every outcome of the batch in one call of settle_deliveries (migration 23), fenced
     * by epoch, with its attempt record (a fenced attempt's too, marked: the call did happen).
     * $1..$6 delivery changes, $7..$12 attempt records, $13 now.
     */
    settleDeliveries: st('settle', (s) => `SELECT * FROM ${s}.settle_deliveries($1::bigint[], $2::int[], $3::text[], $4::bigint[], $5::text[],
      $6::text[], $7::int[], $8::bigint[], $9::int[], $10::int[], $11::text[], $12::text[], $13::bigint)`),

    /**
     * Outcomes of an unordered target's deliveries and the claim of the slots they free, in one
     * round trip (migration 17), also the settlement of lane-free outcomes alone: $1..$13 as
     * settleDeliveries, $14 target, $15 limit (0: settle only),
     * $16 owner, $17 lease expiry, $18 whether a short claim looks ahead. The first row lists the
     * ids settled and those with a lane; after the claimed rows, a look-ahead row may follow.
     */
    settleFreeAndClaim: st('settle_free_claim', (s) => `SELECT * FROM ${s}.settle_free_and_claim($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13,
      $14, $15, $16, $17, $18)`),

    /** Settle step 3: the head of each lane after the batch. */
    headsOf: st('heads_of', (s) => `SELECT v.target_id, v.lane, h.id, h.position, h.status, h.available_at
      FROM unnest($1::bigint[], $2::text[]) AS v(target_id, lane)
      CROSS JOIN LATERAL (
        SELECT d.id, d.position, d.status, d.available_at FROM ${s}.deliveries d
        WHERE d.target_id = v.target_id AND d.lane = v.lane AND d.live ORDER BY d.position LIMIT 1
      ) h`),

    /** Settle step 4, one call of apply_lanes (migration 23): drop emptied lanes ($1/$2), set the others active or blocked ($3..$7). $8 now. */
    applyLanes: st('apply_lanes', (s) => `SELECT ${s}.apply_lanes($1::bigint[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::bigint[],
      $7::text[], $8::bigint)`),

    /**
     * Extends current leases (and their lanes' guard) in one call of renew_leases (migration 24).
     * It never waits for a lock: a delivery row locked by someone else is being settled, released
     * or taken over right now, so it is left for the next renewal; a lane row locked by someone
     * else (a claim, or an application's outbox transaction appending to the lane) keeps its old
     * `leased_until`, which is only a hint: claims check the head delivery's own expiry with the
     * row locked (laneHeads). Commits without waiting for the WAL flush, like a claim.
     * $1 ids, $2 epochs, $3 new expiry, $4 now. Returns the ids whose lease was found lost.
     */
    renew: st('renew', (s) => `SELECT lost FROM ${s}.renew_leases($1::bigint[], $2::int[], $3::bigint, $4::bigint)`),

    /**
     * Gives leases back untried, in one call of release_leases (migration 24): available now,
     * attempt not counted, lane claimable now. Their lanes are locked first (lockLanesOf). $3 now.
     */
    release: st('release', (s) => `SELECT ${s}.release_leases($1::bigint[], $2::int[], $3::bigint)`),

    /** The earliest time a live delivery ($2 false) or a ready lane ($2 true) of target $1 is due ($3 now): migration 31. */
    nextWakeAt: st('next_wake_at', (s) => `SELECT ${s}.next_wake_at($1, $2, $3) AS at`),

    /** Declare: a plain queue's ttl, for messages stored from now on. */
    setTtl: st('set_ttl', (s) => `UPDATE ${s}.channels SET ttl_ms = $2 WHERE name = $1 AND kind = 'queue' AND ttl_ms IS DISTINCT FROM $2`),
    /**
     * The `expire` transition: up to $2 live plain-queue deliveries whose expiresAt passed ($1 now),
     * not in flight under a current lease, dead-lettered with reason $3 and no attempt. Rows a
     * claim or settlement holds are skipped: the next sweep gets them.
     */
    expire: st('expire', (s) => `WITH due AS (
        SELECT d.id, d.status FROM ${s}.deliveries d
        WHERE d.expires_at IS NOT NULL AND d.live AND d.expires_at <= $1 AND d.lane IS NULL
          AND (d.status = 'ready' OR d.available_at <= $1)
        ORDER BY d.expires_at LIMIT $2
        FOR UPDATE SKIP LOCKED
      ), upd AS (
        UPDATE ${s}.deliveries d SET status = 'deadlettered', available_at = NULL, lease_owner = NULL, last_error = $3, updated_at = $1
        FROM due WHERE d.id = due.id
        RETURNING d.id, d.target_id, d.message_pk, due.status AS was
      ), cnt AS (
        ${countInto(s, `SELECT target_id, -1, -(was = 'delivering')::int, 0, 1, 0, 0::bigint FROM upd`)}
      )
      SELECT c.name AS target, m.id AS message_id FROM upd JOIN ${s}.channels c ON c.id = upd.target_id JOIN ${s}.messages m ON m.pk = upd.message_pk`),
    insertChannel: st('ins_channel', (s) => `INSERT INTO ${s}.channels (name, kind, topic_id, ordering, created_at) VALUES ($1, $2, $3, $4, $5)
      ON CONFLICT (name) DO NOTHING RETURNING id`),
    /** Declare: a subscription's filter ($2 as declared, JSON; $3 type and $4 key LIKE patterns), written only when it changed. */
    setFilter: st('set_filter', (s) => `UPDATE ${s}.channels SET filter = $2, filter_types = $3, filter_keys = $4
      WHERE id = $1 AND filter IS DISTINCT FROM $2`),
    /** Declare: which of these channels ($1 names) exist, with a subscription's stored filter, read without a lock. */
    declaredChannels: st('declared_channels', (s) => `SELECT name, filter FROM ${s}.channels WHERE name = ANY($1::text[])`),
    subscriptionId: st('subscription_id', (s) => `SELECT id FROM ${s}.channels WHERE name = $1 AND kind = 'subscription'`),
    /** Declare: the topics whose subscriptions are declared, locked like a publisher does, in id order. */
    lockTopics: st('lock_topics', (s) => `SELECT id, name FROM ${s}.channels WHERE kind = 'topic' AND name = ANY($1::text[])
      ORDER BY id FOR NO KEY UPDATE`),
    /** Declare: a new subscription from the beginning gets its topic's ($2) kept messages that pass its ($1) filter. $3 now. */
    backfill: st('backfill', (s) => `WITH b AS (
        INSERT INTO ${s}.deliveries (message_pk, target_id, lane, position, status, attempts, available_at, updated_at)
        SELECT m.pk, c.id, CASE c.ordering WHEN 'key' THEN COALESCE(m.key, '') ELSE '' END, m.sequence, 'ready', 0, $3::bigint, $3::bigint
        FROM ${s}.messages m JOIN ${s}.channels c ON c.id = $1 WHERE m.channel_id = $2 AND ${passesFilter('c', 'm.type', 'm.key')} ORDER BY m.sequence
        RETURNING target_id
      )
      ${countInto(s, `SELECT target_id, 1, 0, 0, 0, 0, 0::bigint FROM b`)}`),
    backfillLanes: st('backfill_lanes', (s) => `INSERT INTO ${s}.lanes (target_id, lane, state, ready_at)
      SELECT DISTINCT target_id, lane, 'active', $1::bigint FROM ${s}.deliveries WHERE target_id = $2 AND live
      ON CONFLICT DO NOTHING`),
    ping: st('ping', () => 'SELECT 1'),
    // A row nobody holds: a topic's row is locked by every publisher until commit (an application's
    // open outbox transaction for as long as it stays open), and a probe must not wait for that.
    probeWrite: st('probe_write', (s) => `UPDATE ${s}.channels SET paused = paused
      WHERE id = (SELECT id FROM ${s}.channels ORDER BY id LIMIT 1 FOR NO KEY UPDATE SKIP LOCKED)`),
  };
}

export type HotStatements = ReturnType<typeof hotStatements>;
