import type { Database as Db } from 'better-sqlite3';
import type { Clock } from '../../domain/clock.js';
import { ConflictError, ValidationError } from '../../domain/errors.js';
import { seekRefusal, type SeekPoint, type TopicKept } from '../../domain/seek.js';
import type { SeekResult, StoreRetention } from '../port.js';
import type { ChannelCache, ChannelRow } from './channel-cache.js';
import { counterStatements, passesFilter, typed } from './statements.js';

const SWEEP_SLICE = 5_000;

interface SweptRow {
  pk: number;
  channel_id: number;
  sequence: number | null;
  created_at: number;
}

/** Messages of the topic at or after the point that pass the subscription's current filter: what a seek replays. */
const REPLAYABLE = `SELECT m.pk FROM messages m JOIN channels c ON c.id = @sub
  WHERE m.channel_id = @topic AND m.sequence >= @point AND ${passesFilter('c', 'm.type', 'm.key')}`;

/**
 * What topics keep and how subscriptions move over it: the sweep (retention) and seek. Both run
 * in immediate transactions: SQLite has one writer, so a seek sees no claim or settlement halfway.
 * The seek reaches a subscription's deliveries through its topic's messages by sequence
 * (messages_by_sequence, then deliveries_message), so its cost follows the events it moves.
 */
export function createSqliteRetention(db: Db, channels: ChannelCache, clock: Clock): StoreRetention {
  const q = typed(db);
  const sql = {
    count: counterStatements(db).count,
    /**
     * Where a slice of the sweep ends: the creation time of the SWEEP_SLICE-th message past the
     * cutoff created after the last slice's end, read from messages_by_age alone; none for the
     * last slice. A slice takes every message created in its span (those sharing its last
     * millisecond too) and looks at each once, whether or not it can go: its work is bounded, and
     * messages that stay (dead letters, parked keys) are looked at once per sweep, not once per slice.
     */
    sliceEnd: q.prepare<{ cutoff: number; after: number }, { created_at: number }>(
      `SELECT created_at FROM messages WHERE created_at > @after AND created_at < @cutoff ORDER BY created_at LIMIT 1 OFFSET ${SWEEP_SLICE - 1}`),
    /**
     * The messages created in a slice's span whose every delivery was delivered. `others`: channels
     * left out (topics with their own retention); `only`: one channel, or null.
     */
    sweepable: q.prepare<{ after: number; end: number; others: string; only: number | null }, SweptRow>(
      `SELECT m.pk, m.channel_id, m.sequence, m.created_at FROM messages m
      WHERE m.created_at > @after AND m.created_at <= @end
        AND (@only IS NULL OR m.channel_id = @only) AND m.channel_id NOT IN (SELECT value FROM json_each(@others))
        AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.message_pk = m.pk AND d.status <> 'delivered')`),
    sweepAttempts: q.prepare<[number]>('DELETE FROM attempts WHERE delivery_id IN (SELECT id FROM deliveries WHERE message_pk = ?)'),
    sweepDeliveries: q.prepare<[number]>('DELETE FROM deliveries WHERE message_pk = ?'),
    sweepMessage: q.prepare<[number]>('DELETE FROM messages WHERE pk = ?'),
    markSwept: q.prepare<[number, number, number]>(
      'UPDATE channels SET swept_sequence = MAX(swept_sequence, ?), swept_created_at = MAX(swept_created_at, ?) WHERE id = ?'),

    kept: q.prepare<[number], { last_sequence: number; swept_sequence: number; swept_created_at: number }>(
      'SELECT last_sequence, swept_sequence, swept_created_at FROM channels WHERE id = ?'),
    firstAt: q.prepare<[number, number], { sequence: number | null }>(
      'SELECT MIN(sequence) AS sequence FROM messages WHERE channel_id = ? AND created_at >= ? AND sequence IS NOT NULL'),
    /**
     * Before fencing: a lane in flight holds its lease until the one its call held ends (an
     * asynchronously acknowledged call: its deadline), so no claim overlaps the fenced call.
     */
    holdLanes: q.prepare<{ sub: number }>(
      `UPDATE lanes SET leased_until = MAX(COALESCE(leased_until, 0), (SELECT MAX(d.available_at) FROM deliveries d
        WHERE d.target_id = lanes.target_id AND d.lane = lanes.lane AND d.available_at IS NOT NULL AND d.status = 'delivering'))
      WHERE target_id = @sub AND EXISTS (SELECT 1 FROM deliveries d
        WHERE d.target_id = lanes.target_id AND d.lane = lanes.lane AND d.available_at IS NOT NULL AND d.status = 'delivering')`),
    /** In flight: fenced (the epoch moves on), ready again; the lane keeps `leased_until`, so it waits out the lease. */
    fence: q.prepare<{ sub: number; now: number }>(
      `UPDATE deliveries SET status = 'ready', available_at = @now, lease_owner = NULL, epoch = epoch + 1, updated_at = @now
      WHERE target_id = @sub AND available_at IS NOT NULL AND status = 'delivering'`),
    skipBefore: q.prepare<{ sub: number; point: number; now: number }>(
      `UPDATE deliveries SET status = 'skipped', available_at = NULL, updated_at = @now
      WHERE target_id = @sub AND available_at IS NOT NULL AND position < @point`),
    /**
     * Per lane, how many delivered events are replayed (the cursor goes back by that many, so the
     * events after them keep the positions they would have had), and the last delivered before the point.
     */
    rewind: q.prepare<{ sub: number; topic: number; point: number }, { lane: string; n: number }>(
      `SELECT d.lane, COUNT(*) AS n FROM deliveries d
      WHERE d.message_pk IN (${REPLAYABLE}) AND d.target_id = @sub AND d.status = 'delivered' GROUP BY d.lane`),
    lastBefore: q.prepare<{ sub: number; topic: number; point: number; lane: string }, { id: string }>(
      `SELECT m.id FROM messages m JOIN deliveries d ON d.message_pk = m.pk AND d.target_id = @sub
      WHERE m.channel_id = @topic AND m.sequence < @point AND d.lane = @lane AND d.status = 'delivered' ORDER BY m.sequence DESC LIMIT 1`),
    moveCursor: q.prepare<{ sub: number; lane: string; n: number; lastId: string }>(
      'UPDATE lane_cursors SET delivered = delivered - @n, last_id = @lastId WHERE target_id = @sub AND lane = @lane'),
    dropCursors: q.prepare<[number]>('DELETE FROM lane_cursors WHERE target_id = ? AND delivered <= 0'),
    replay: q.prepare<{ sub: number; topic: number; point: number; now: number }>(
      `UPDATE deliveries SET status = 'ready', attempts = 0, available_at = @now, last_error = NULL, updated_at = @now
      WHERE message_pk IN (${REPLAYABLE}) AND target_id = @sub AND status = 'delivered'`),
    /**
     * Skipped events at or after the point (by an earlier seek forward, or by an operator) come
     * back as never delivered: they take no cursor step back, so each gets the next lane position
     * after its lane's rewound cursor when claimed. A `deliverAt` still ahead is kept.
     */
    restore: q.prepare<{ sub: number; topic: number; point: number; now: number }>(
      `UPDATE deliveries SET status = 'ready', attempts = 0, last_error = NULL, updated_at = @now,
        available_at = MAX(@now, COALESCE((SELECT m.deliver_at FROM messages m WHERE m.pk = deliveries.message_pk), @now))
      WHERE message_pk IN (${REPLAYABLE}) AND target_id = @sub AND status = 'skipped'`),
    /** Kept events the subscription never had a delivery for (created later, `startFrom: latest`). */
    addMissing: q.prepare<{ sub: number; topic: number; point: number; now: number; ordering: string }>(
      `INSERT INTO deliveries (message_pk, target_id, lane, position, status, attempts, available_at, updated_at)
      SELECT m.pk, @sub, CASE @ordering WHEN 'key' THEN COALESCE(m.key, '') ELSE '' END, m.sequence, 'ready', 0,
        MAX(@now, COALESCE(m.deliver_at, @now)), @now
      FROM messages m WHERE m.pk IN (${REPLAYABLE})
        AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.message_pk = m.pk AND d.target_id = @sub)
      ORDER BY m.sequence`),
    /** Every lane's head gets a fresh budget: a head waiting for a retry (or stalled) is due now. */
    freshBudget: q.prepare<{ sub: number; now: number }>(
      `UPDATE deliveries SET attempts = 0, available_at = @now, last_error = NULL, updated_at = @now
      WHERE target_id = @sub AND available_at IS NOT NULL AND status = 'ready' AND attempts > 0`),
    activateLanes: q.prepare<{ sub: number; now: number }>(
      `UPDATE lanes SET state = 'active', reason = NULL, since = NULL, ready_at = @now, filling = 0 WHERE target_id = @sub`),
    addLanes: q.prepare<{ sub: number; now: number }>(
      `INSERT INTO lanes (target_id, lane, state, ready_at)
      SELECT DISTINCT target_id, lane, 'active', @now FROM deliveries WHERE target_id = @sub AND available_at IS NOT NULL
      ON CONFLICT DO NOTHING`),
    /** Lanes left empty go, unless a fenced call still holds their lease. */
    dropLanes: q.prepare<{ sub: number; now: number }>(
      `DELETE FROM lanes WHERE target_id = @sub AND (leased_until IS NULL OR leased_until <= @now)
      AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.target_id = lanes.target_id AND d.lane = lanes.lane AND d.available_at IS NOT NULL)`),
    rewindSequence: q.prepare<[number, number]>('UPDATE channels SET delivered_sequence = MIN(delivered_sequence, ?) WHERE id = ?'),
  };

  function sweepSlice(rows: SweptRow[]): void {
    for (const row of rows) {
      sql.sweepAttempts.run(row.pk);
      sql.sweepDeliveries.run(row.pk);
      sql.sweepMessage.run(row.pk);
      if (row.sequence !== null) sql.markSwept.run(row.sequence, row.created_at, row.channel_id);
    }
  }

  function topicKept(topicId: number): TopicKept {
    const row = sql.kept.get(topicId)!;
    return { lastSequence: row.last_sequence, sweptSequence: row.swept_sequence, sweptCreatedAt: row.swept_created_at };
  }

  function seek(sub: ChannelRow, point: SeekPoint, now: number): SeekResult {
    const topic = sub.topicId!;
    const kept = topicKept(topic);
    const resolved = 'sequence' in point ? point.sequence : (sql.firstAt.get(topic, point.time)?.sequence ?? kept.lastSequence + 1);
    const refusal = seekRefusal(point, resolved, kept);
    if (refusal) throw new ConflictError(refusal);
    const at = { sub: sub.id, topic, point: resolved, now };
    sql.holdLanes.run({ sub: sub.id });
    const fenced = sql.fence.run({ sub: sub.id, now }).changes;
    const skipped = sql.skipBefore.run(at).changes;
    for (const { lane, n } of sql.rewind.all(at)) {
      sql.moveCursor.run({ sub: sub.id, lane, n, lastId: sql.lastBefore.get({ ...at, lane })?.id ?? '' });
    }
    sql.dropCursors.run(sub.id);
    const restored = sql.restore.run(at).changes;
    const replayed = sql.replay.run(at).changes + restored + sql.addMissing.run({ ...at, ordering: sub.ordering }).changes;
    sql.freshBudget.run({ sub: sub.id, now });
    sql.activateLanes.run({ sub: sub.id, now });
    sql.addLanes.run({ sub: sub.id, now });
    sql.dropLanes.run({ sub: sub.id, now });
    sql.rewindSequence.run(resolved - 1, sub.id);
    sql.count.run({ depth: replayed - skipped, inFlight: -fenced, delivered: 0, deadlettered: 0, skipped: skipped - restored, sequence: 0, targetId: sub.id });
    return { sequence: resolved, replayed, skipped, fenced };
  }

  return {
    async sweep(olderThan, topics = {}, signal) {
      const own = new Map<number, number>();
      for (const [name, cutoff] of Object.entries(topics)) {
        const topic = channels.all().find((c) => c.name === name && c.kind === 'topic');
        if (topic) own.set(topic.id, cutoff);
      }
      // In slices, each its own transaction with the event loop free between them, so neither a
      // large backlog nor a long history of kept dead letters holds the store for long.
      const slices = async (cutoff: number, only: number | null, others: string): Promise<number> => {
        let total = 0;
        let after = Number.MIN_SAFE_INTEGER;
        for (;;) {
          if (signal?.aborted) return total;
          // Without an end, the slice runs to the cutoff (times are whole milliseconds).
          const end = sql.sliceEnd.get({ cutoff, after })?.created_at;
          const span = { after, end: end ?? cutoff - 1 };
          total += db.transaction(() => {
            const rows = sql.sweepable.all({ ...span, others, only });
            sweepSlice(rows);
            return rows.length;
          }).immediate();
          if (end === undefined) return total;
          after = end;
          await new Promise((resolve) => setImmediate(resolve));
        }
      };
      let total = 0;
      for (const [topicId, cutoff] of own) total += await slices(cutoff, topicId, '[]');
      total += await slices(olderThan, null, JSON.stringify([...own.keys()]));
      return total;
    },
    async seek(name, point) {
      const sub = channels.require(name);
      if (sub.kind !== 'subscription' || sub.topicId === null) throw new ValidationError(`'${name}' is not a subscription: only subscriptions seek`);
      return db.transaction(() => seek(sub, point, clock.now())).immediate();
    },
  };
}
