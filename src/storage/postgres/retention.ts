import type pg from 'pg';
import type { Clock } from '../../domain/clock.js';
import { ConflictError, ValidationError } from '../../domain/errors.js';
import { seekRefusal, type SeekPoint } from '../../domain/seek.js';
import type { SeekResult, StoreRetention } from '../port.js';
import type { ChannelCache, ChannelRow } from './channel-cache.js';
import { execute, guard, isLockTimeout, run, transaction } from './connection.js';
import { countInto, NOTIFY, passesFilter, statementFactory } from './statements.js';

const SWEEP_SLICE = 5_000;
/** How long a sweep waits for a topic's row lock before leaving the topic to its next round. */
const TOPIC_LOCK_WAIT_MS = 2_000;

/** Messages of topic $2 at or after the point $3 that pass subscription $1's current filter: what a seek replays. */
const replayable = (s: string) => `SELECT m.pk FROM ${s}.messages m JOIN ${s}.channels c ON c.id = $1
  WHERE m.channel_id = $2 AND m.sequence >= $3 AND ${passesFilter('c', 'm.type', 'm.key')}`;

/**
 * What topics keep and how subscriptions move over it: the sweep (retention) and seek.
 *
 * Seek locking (see lanes.ts for the rules it follows): one transaction takes the topic row
 * (FOR NO KEY UPDATE, as a publisher, declare's backfill and the sweep do), then every lane row
 * of the subscription in lane order (FOR UPDATE, as settlements lock lanes: R3), then changes the
 * deliveries. With the topic held, no publish adds events and no sweep removes them meanwhile;
 * with the lanes held, no claim or settlement of the subscription is halfway: a claim that
 * started before has committed (its lease is then fenced), one that comes after sees the seek.
 * Fencing moves the epoch of every delivery in flight, so its settlement changes nothing, and
 * keeps the lane's `leased_until`, so no claim takes the lane before that lease expires (I2).
 * Lanes the seek creates are upserted (R2), lanes it empties are deleted by a statement that
 * runs after their locks were granted (R1).
 */
export function createPostgresRetention(pool: pg.Pool, schema: string, channels: ChannelCache, clock: Clock, wake: string | null): StoreRetention {
  const st = statementFactory(schema);
  const sql = {
    foldCounts: st('r_fold_counts', (s) => `WITH moved AS (
        DELETE FROM ${s}.target_counts c USING (
          SELECT target_id, slot FROM ${s}.target_counts WHERE slot <> 0 FOR UPDATE SKIP LOCKED
        ) x WHERE c.target_id = x.target_id AND c.slot = x.slot
        RETURNING c.*
      )
      INSERT INTO ${s}.target_counts AS c (target_id, slot, depth, in_flight, delivered, deadlettered, skipped, delivered_sequence)
      SELECT target_id, 0, SUM(depth), SUM(in_flight), SUM(delivered), SUM(deadlettered), SUM(skipped), MAX(delivered_sequence)
      FROM moved GROUP BY target_id
      ON CONFLICT (target_id, slot) DO UPDATE SET depth = c.depth + EXCLUDED.depth, in_flight = c.in_flight + EXCLUDED.in_flight,
        delivered = c.delivered + EXCLUDED.delivered, deadlettered = c.deadlettered + EXCLUDED.deadlettered,
        skipped = c.skipped + EXCLUDED.skipped, delivered_sequence = GREATEST(c.delivered_sequence, EXCLUDED.delivered_sequence)`),
    /** The topic row: the lock a publisher takes, and what the topic keeps. */
    lockTopic: st('r_lock_topic', (s) => `SELECT last_sequence, swept_sequence, swept_created_at FROM ${s}.channels WHERE id = $1 FOR NO KEY UPDATE`),
    /**
     * Messages of one channel ($3) created before $1 whose every delivery was delivered, with
     * their deliveries (and their attempts, by the trigger of migration 35), $2 at a time; a
     * topic remembers the newest it lost.
     * Both deletes find their rows by key (= ANY of the victims' keys): a join with the victims
     * could be planned (generically) as a hash of the whole table.
     */
    sweep: st('r_sweep', (s) => `WITH victims AS (
        SELECT m.pk, m.sequence, m.created_at FROM ${s}.messages m WHERE m.channel_id = $3 AND m.created_at < $1
          AND NOT EXISTS (SELECT 1 FROM ${s}.deliveries d WHERE d.message_pk = m.pk AND d.status <> 'delivered')
        LIMIT $2 FOR UPDATE OF m SKIP LOCKED
      ), gone AS (
        DELETE FROM ${s}.deliveries WHERE message_pk = ANY (ARRAY(SELECT pk FROM victims))
      ), swept AS (
        DELETE FROM ${s}.messages WHERE pk = ANY (ARRAY(SELECT pk FROM victims)) RETURNING pk
      ), marked AS (
        UPDATE ${s}.channels c SET swept_sequence = GREATEST(c.swept_sequence, v.sequence), swept_created_at = GREATEST(c.swept_created_at, v.created_at)
        FROM (SELECT MAX(sequence) AS sequence, MAX(created_at) AS created_at FROM victims WHERE sequence IS NOT NULL) v
        WHERE c.id = $3 AND v.sequence IS NOT NULL
      )
      SELECT COUNT(*) AS n FROM swept`),
    firstAt: st('r_first_at', (s) => `SELECT MIN(sequence) AS sequence FROM ${s}.messages WHERE channel_id = $1 AND created_at >= $2 AND sequence IS NOT NULL`),
    lockLanes: st('r_lock_lanes', (s) => `SELECT lane FROM ${s}.lanes WHERE target_id = $1 ORDER BY lane FOR UPDATE`),
    /** Before fencing: a lane in flight holds its lease until the one its call held ends (an asynchronously acknowledged call: its deadline). */
    holdLanes: st('r_hold_lanes', (s) => `UPDATE ${s}.lanes l SET leased_until = GREATEST(COALESCE(l.leased_until, 0), h.until)
      FROM (SELECT d.lane, MAX(d.available_at) AS until FROM ${s}.deliveries d
        WHERE d.target_id = $1 AND d.live AND d.status = 'delivering' GROUP BY d.lane) h
      WHERE l.target_id = $1 AND l.lane = h.lane`),
    fence: st('r_fence', (s) => `UPDATE ${s}.deliveries SET status = 'ready', available_at = $2, lease_owner = NULL, epoch = epoch + 1, updated_at = $2
      WHERE target_id = $1 AND status = 'delivering'`),
    skipBefore: st('r_skip_before', (s) => `UPDATE ${s}.deliveries SET status = 'skipped', available_at = NULL, updated_at = $3
      WHERE target_id = $1 AND live AND position < $2`),
    /** Per lane: delivered events replayed (the cursor goes back by that many). */
    rewind: st('r_rewind', (s) => `SELECT d.lane, COUNT(*) AS n FROM ${s}.deliveries d
      WHERE d.message_pk IN (${replayable(s)}) AND d.target_id = $1 AND d.status = 'delivered' GROUP BY d.lane`),
    /**
     * The id of the last event each of these lanes ($3) delivered before the point ($2), in one pass
     * over the subscription's delivered rows (deliveries_final), not one search per lane.
     */
    lastBefore: st('r_last_before', (s) => `SELECT DISTINCT ON (d.lane) d.lane, m.id FROM ${s}.deliveries d JOIN ${s}.messages m ON m.pk = d.message_pk
      WHERE d.target_id = $1 AND d.final_status = 'delivered' AND d.position < $2 AND d.lane = ANY($3::text[])
      ORDER BY d.lane, d.position DESC`),
    moveCursors: st('r_move_cursors', (s) => `UPDATE ${s}.lane_cursors c SET delivered = c.delivered - v.n, last_id = v.last_id
      FROM unnest($2::text[], $3::bigint[], $4::text[]) AS v(lane, n, last_id) WHERE c.target_id = $1 AND c.lane = v.lane`),
    dropCursors: st('r_drop_cursors', (s) => `DELETE FROM ${s}.lane_cursors WHERE target_id = $1 AND delivered <= 0`),
    replay: st('r_replay', (s) => `UPDATE ${s}.deliveries SET status = 'ready', attempts = 0, available_at = $4, last_error = NULL, updated_at = $4
      WHERE message_pk IN (${replayable(s)}) AND target_id = $1 AND status = 'delivered'`),
    /**
     * Skipped events at or after the point (a seek forward's or an operator's) come back as never
     * delivered: no cursor step back, so each takes the next lane position after its lane's
     * rewound cursor when claimed. A `deliverAt` still ahead is kept.
     */
    restore: st('r_restore', (s) => `UPDATE ${s}.deliveries d SET status = 'ready', attempts = 0, last_error = NULL, updated_at = $4,
        available_at = GREATEST($4::bigint, COALESCE(m.deliver_at, $4::bigint))
      FROM ${s}.messages m WHERE m.pk = d.message_pk
        AND d.message_pk IN (${replayable(s)}) AND d.target_id = $1 AND d.status = 'skipped'`),
    addMissing: st('r_add_missing', (s) => `INSERT INTO ${s}.deliveries (message_pk, target_id, lane, position, status, attempts, available_at, updated_at)
      SELECT m.pk, $1::bigint, CASE $5::text WHEN 'key' THEN COALESCE(m.key, '') ELSE '' END, m.sequence, 'ready', 0,
        GREATEST($4::bigint, COALESCE(m.deliver_at, $4::bigint)), $4::bigint
      FROM ${s}.messages m WHERE m.pk IN (${replayable(s)})
        AND NOT EXISTS (SELECT 1 FROM ${s}.deliveries d WHERE d.message_pk = m.pk AND d.target_id = $1)
      ORDER BY m.sequence`),
    freshBudget: st('r_fresh_budget', (s) => `UPDATE ${s}.deliveries SET attempts = 0, available_at = $2, last_error = NULL, updated_at = $2
      WHERE target_id = $1 AND live AND status = 'ready' AND attempts > 0`),
    /** Every lane with live deliveries is active and due now; `leased_until` is kept (a fenced call's lease is waited out). */
    upsertLanes: st('r_upsert_lanes', (s) => `INSERT INTO ${s}.lanes (target_id, lane, state, ready_at)
      SELECT DISTINCT target_id, lane, 'active', $2::bigint FROM ${s}.deliveries WHERE target_id = $1 AND live ORDER BY 2
      ON CONFLICT (target_id, lane) DO UPDATE SET state = 'active', reason = NULL, since = NULL, ready_at = EXCLUDED.ready_at, filling = false`),
    dropLanes: st('r_drop_lanes', (s) => `DELETE FROM ${s}.lanes l WHERE l.target_id = $1 AND (l.leased_until IS NULL OR l.leased_until <= $2)
      AND NOT EXISTS (SELECT 1 FROM ${s}.deliveries d WHERE d.target_id = l.target_id AND d.lane = l.lane AND d.live)`),
    activateLanes: st('r_activate_lanes', (s) => `UPDATE ${s}.lanes SET state = 'active', reason = NULL, since = NULL, ready_at = $2, filling = false
      WHERE target_id = $1`),
    count: st('r_count', (s) => countInto(s, `SELECT $1::bigint, $2::bigint, $3::bigint, 0::bigint, 0::bigint, $4::bigint, 0::bigint`)),
    rewindSequence: st('r_rewind_sequence', (s) => `UPDATE ${s}.target_counts SET delivered_sequence = LEAST(delivered_sequence, $2) WHERE target_id = $1`),
  };

  async function sweepChannel(channelId: number, olderThan: number, isTopic: boolean, signal: AbortSignal | undefined): Promise<number> {
    let total = 0;
    for (;;) {
      if (signal?.aborted) return total;
      // A topic's messages are swept holding its row lock, as declare's backfill and seek read them,
      // so a message is never deleted while a subscription is being given a delivery for it.
      // Waiting for that lock is bounded: an application's outbox transaction left open on the
      // topic would hold the sweep (and a connection with it) for as long as it stays open, and a
      // sweep starts every minute. Such a topic is swept at a later round.
      const swept = await transaction(pool, 'relaxed', async (client) => {
        if (isTopic) {
          await client.query(`SET LOCAL lock_timeout = ${TOPIC_LOCK_WAIT_MS}`);
          await run(client, sql.lockTopic, [channelId], true);
        }
        return run<{ n: number }>(client, sql.sweep, [olderThan, SWEEP_SLICE, channelId], true);
      }).catch((error: unknown) => {
        if (isLockTimeout(error)) return null;
        throw error;
      });
      if (swept === null) return total;
      total += swept[0]!.n;
      if (swept[0]!.n < SWEEP_SLICE) return total;
    }
  }

  async function seek(client: pg.PoolClient, sub: ChannelRow, point: SeekPoint, now: number): Promise<SeekResult> {
    const topic = sub.topicId!;
    const [kept] = await run<{ last_sequence: number; swept_sequence: number; swept_created_at: number }>(client, sql.lockTopic, [topic], true);
    const resolved = 'sequence' in point
      ? point.sequence
      : ((await run<{ sequence: number | null }>(client, sql.firstAt, [topic, point.time], true))[0]?.sequence ?? kept!.last_sequence + 1);
    const refusal = seekRefusal(point, resolved, { lastSequence: kept!.last_sequence, sweptSequence: kept!.swept_sequence, sweptCreatedAt: kept!.swept_created_at });
    if (refusal) throw new ConflictError(refusal);
    await run(client, sql.lockLanes, [sub.id], true);
    await execute(client, sql.holdLanes, [sub.id], true);
    const fenced = await execute(client, sql.fence, [sub.id, now], true);
    const skipped = await execute(client, sql.skipBefore, [sub.id, resolved, now], true);
    const rewind = await run<{ lane: string; n: number }>(client, sql.rewind, [sub.id, topic, resolved], true);
    if (rewind.length > 0) {
      const lanes = rewind.map((r) => r.lane);
      const last = resolved > 1 ? new Map((await run<{ lane: string; id: string }>(client, sql.lastBefore, [sub.id, resolved, lanes], true)).map((r) => [r.lane, r.id])) : new Map<string, string>();
      await run(client, sql.moveCursors, [sub.id, lanes, rewind.map((r) => r.n), lanes.map((lane) => last.get(lane) ?? '')], true);
    }
    await execute(client, sql.dropCursors, [sub.id], true);
    const restored = await execute(client, sql.restore, [sub.id, topic, resolved, now], true);
    const replayed = restored + (await execute(client, sql.replay, [sub.id, topic, resolved, now], true))
      + (await execute(client, sql.addMissing, [sub.id, topic, resolved, now, sub.ordering], true));
    await execute(client, sql.freshBudget, [sub.id, now], true);
    await execute(client, sql.activateLanes, [sub.id, now], true);
    await execute(client, sql.upsertLanes, [sub.id, now], true);
    await execute(client, sql.dropLanes, [sub.id, now], true);
    await execute(client, sql.count, [sub.id, replayed - skipped, -fenced, skipped - restored], true);
    await execute(client, sql.rewindSequence, [sub.id, resolved - 1], true);
    // Wakes every instance's dispatcher for the subscription when the seek commits.
    if (wake !== null) await run(client, NOTIFY, [wake, sub.name], true);
    return { sequence: resolved, replayed, skipped, fenced };
  }

  return {
    sweep: (olderThan, topics = {}, signal) =>
      guard(async () => {
        if (signal?.aborted) return 0;
        await channels.reload();
        await run(pool, sql.foldCounts, [], true);
        let total = 0;
        for (const c of channels.all()) {
          if (c.kind === 'subscription') continue;
          const cutoff = c.kind === 'topic' ? (topics[c.name] ?? olderThan) : olderThan;
          total += await sweepChannel(c.id, cutoff, c.kind === 'topic', signal);
        }
        return total;
      }),
    seek: async (name, point) => {
      const sub = await guard(() => channels.require(name));
      if (sub.kind !== 'subscription' || sub.topicId === null) throw new ValidationError(`'${name}' is not a subscription: only subscriptions seek`);
      return transaction(pool, 'durable', (client) => seek(client, sub, point, clock.now()));
    },
  };
}
