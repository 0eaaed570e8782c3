import type { Database as Db } from 'better-sqlite3';
import { MAX_DATE_MS } from '../../domain/message.js';
import type { DuplicateRow, MessageRow } from '../rows.js';

/** Columns rowToMessage reads, from `messages m`. */
export const MESSAGE_COLUMNS = 'm.pk, m.id, m.key, m.type, m.data, m.metadata, m.created_at, m.deliver_at, m.sequence, m.priority, m.expires_at';

/** A delivery a claim reads with its message: what leasing it changes (status, epoch, attempts), and when it is due. */
export type DueRow = MessageRow & { delivery_id: number; status: string; epoch: number; attempts: number; available_at: number };

/** The columns of a DueRow (d: deliveries, m: messages), in the order dueRow reads them. */
const DUE_COLUMNS = `d.id, d.status, d.epoch, d.attempts, d.available_at, ${MESSAGE_COLUMNS}`;

/** A DueRow from the values of DUE_COLUMNS. */
function dueRow(v: unknown[]): DueRow {
  return {
    delivery_id: v[0] as number, status: v[1] as string, epoch: v[2] as number, attempts: v[3] as number, available_at: v[4] as number,
    pk: v[5] as number, id: v[6] as string, key: v[7] as string | null, type: v[8] as string, data: v[9] as string, metadata: v[10] as string,
    created_at: v[11] as number, deliver_at: v[12] as number | null, sequence: v[13] as number | null, priority: v[14] as number, expires_at: v[15] as number | null,
  };
}

/** Parameters of the fan-out of one published message (`lane`: its key, or '' for none; `key` as sent). */
export interface FanOut {
  pk: number;
  lane: string;
  sequence: number;
  availableAt: number;
  now: number;
  topic: number;
  type: string;
  key: string | null;
}

/**
 * SQL condition: the message of type `type` and key `key` (SQL expressions) passes the filter
 * of subscription `c` (a `channels` row): it has none, or a type pattern matches and, when key
 * patterns are stored, a key pattern too (a message without a key then does not pass).
 */
export function passesFilter(c: string, type: string, key: string): string {
  return `(${c}.filter_types IS NULL OR EXISTS (SELECT 1 FROM json_each(${c}.filter_types) p WHERE ${type} GLOB p.value))
      AND (${c}.filter_keys IS NULL OR EXISTS (SELECT 1 FROM json_each(${c}.filter_keys) p WHERE ${key} GLOB p.value))`;
}

/** A filter pattern (src/domain/subscription-filter.ts) as a GLOB: `*` stays, GLOB's other wildcards `?` and `[` become literal classes. */
export function toGlob(pattern: string): string {
  return pattern.replace(/[?[]/g, (c) => `[${c}]`);
}

/** The lane a delivery belongs to (null: unordered target). */
export interface DeliveryLane {
  target_id: number;
  lane: string | null;
}

/**
 * Statements of the delivery hot path: send, claim, renew, settle, release. Prepared once per
 * connection (the store's own, and each application connection used for the outbox), typed by
 * their parameters and rows.
 *
 * A limit is bound as `LIMIT +?`, never `LIMIT ?`: SQLite lets the value of a bare bound LIMIT
 * steer its plan, so every new binding expires the statement and it is parsed and planned again
 * on each run (a lane head read cost 5× more). The unary plus makes it an expression the
 * planner leaves alone; the plans are the same.
 */
export function prepareStatements(connection: Db) {
  const db = typed(connection);
  return {
    /** A topic's next sequence number: counted up, then read (the writer's transaction holds it; no RETURNING, which builds a temporary table). */
    nextSequence: db.prepare<[number]>('UPDATE channels SET last_sequence = last_sequence + 1 WHERE id = ?'),
    lastSequence: db.prepare<[number], { last_sequence: number }>('SELECT last_sequence FROM channels WHERE id = ?'),
    undoSequence: db.prepare<[number]>('UPDATE channels SET last_sequence = last_sequence - 1 WHERE id = ?'),
    /**
     * A plain queue's ttl is applied here, from when the message is due (@availableAt), unless it
     * has its own expiry; never past the latest time a Date holds. No change: a duplicate. The new
     * row's pk is the run's lastInsertRowid (nothing RETURNED: SQLite builds a temporary table for that).
     */
    insertMessage: db.prepare<{
      channelId: number; id: string; key: string | null; type: string; data: string; metadata: string; now: number; deliverAt: number | null; sequence: number | null;
      priority: number; expiresAt: number | null; availableAt: number;
    }>(
      `INSERT INTO messages (channel_id, id, key, type, data, metadata, created_at, deliver_at, sequence, priority, expires_at)
      VALUES (@channelId, @id, @key, @type, @data, @metadata, @now, @deliverAt, @sequence, @priority,
        COALESCE(@expiresAt, (SELECT MIN(@availableAt + ttl_ms, ${MAX_DATE_MS}) FROM channels WHERE id = @channelId AND kind = 'queue')))
      ON CONFLICT (id, channel_id) DO NOTHING`),
    /** A plain or fifo queue's delivery of the message just stored (pk twice: its message and its position), with the message's expiry. */
    insertDelivery: db.prepare<[number, number, string | null, number, number, number, number, number]>(
      `INSERT INTO deliveries (message_pk, target_id, lane, position, status, attempts, available_at, updated_at, priority, expires_at)
      VALUES (?, ?, ?, ?, 'ready', 0, ?, ?, ?, (SELECT expires_at FROM messages WHERE pk = ?))`),
    insertLane: db.prepare<[number, string, number]>(`INSERT INTO lanes (target_id, lane, state, ready_at) VALUES (?, ?, 'active', ?) ON CONFLICT DO NOTHING`),
    /**
     * A published message's deliveries, one per subscription of the topic whose filter it passes,
     * and their lanes (fanOutTargets reads whom it reached, to count them: no RETURNING, which
     * builds a temporary table). A lane waiting for its batch to fill is made due now.
     */
    fanOut: db.prepare<FanOut>(
      `INSERT INTO deliveries (message_pk, target_id, lane, position, status, attempts, available_at, updated_at)
      SELECT @pk, c.id, CASE c.ordering WHEN 'key' THEN @lane ELSE '' END, @sequence, 'ready', 0, @availableAt, @now FROM channels c
      WHERE c.topic_id = @topic AND ${passesFilter('c', '@type', '@key')}`),
    fanOutTargets: db.prepare<[number], { target_id: number }>('SELECT target_id FROM deliveries WHERE message_pk = ?'),
    fanOutLanes: db.prepare<FanOut>(`INSERT INTO lanes (target_id, lane, state, ready_at)
      SELECT c.id, CASE c.ordering WHEN 'key' THEN @lane ELSE '' END, 'active', @availableAt FROM channels c
      WHERE c.topic_id = @topic AND ${passesFilter('c', '@type', '@key')}
      ON CONFLICT (target_id, lane) DO UPDATE SET ready_at = excluded.ready_at, filling = 0 WHERE filling = 1`),
    duplicateStatus: db.prepare<[number, string], DuplicateRow>(`SELECT d.status, d.attempts, d.available_at, m.sequence, l.state AS lane_state,
      (d.available_at IS NOT NULL AND d.lane IS NOT NULL AND d.position = (SELECT MIN(h.position) FROM deliveries h
        WHERE h.target_id = d.target_id AND h.lane = d.lane AND h.available_at IS NOT NULL)) AS is_head
      FROM messages m LEFT JOIN deliveries d ON d.message_pk = m.pk LEFT JOIN lanes l ON l.target_id = d.target_id AND l.lane = d.lane
      WHERE m.channel_id = ? AND m.id = ? ORDER BY d.id`),
    /**
     * Paused, read at each claim: another process on the same file may have paused the target or
     * its topic (none for a queue). Two lookups, not `id IN (?, ?)`, for which SQLite builds a temporary table.
     */
    paused: db.prepare<[number, number | null], { paused: number }>(
      'SELECT MAX((SELECT paused FROM channels WHERE id = ?), COALESCE((SELECT paused FROM channels WHERE id = ?), 0)) AS paused'),
    /**
     * Plain queues, one priority at a time (claims.ts walks them from the highest): oldest due first
     * (ties by id), expired leases included; never a delivery whose expiresAt has passed (the
     * expiry sweep dead-letters it). Each is a range of deliveries_by_priority, so a backlog that is
     * not due yet is never scanned. Parameters: target, priority, now, now, limit.
     */
    readyAtPriority: db.prepareRows<[number, number, number, number, number], DueRow>(
      `SELECT ${DUE_COLUMNS} FROM deliveries d INDEXED BY deliveries_by_priority JOIN messages m ON m.pk = d.message_pk
      WHERE d.target_id = ? AND d.lane IS NULL AND d.available_at IS NOT NULL AND d.priority = ? AND d.available_at <= ?
        AND (d.expires_at IS NULL OR d.expires_at > ?)
      ORDER BY d.available_at, d.id LIMIT +?`, dueRow),
    /** The highest priority of the target's live plain deliveries below @below. */
    priorityBelow: db.prepare<{ targetId: number; below: number }, { priority: number }>(
      `SELECT priority FROM deliveries INDEXED BY deliveries_by_priority
      WHERE target_id = @targetId AND lane IS NULL AND available_at IS NOT NULL AND priority < @below ORDER BY priority DESC LIMIT 1`),
    /**
     * Leases one delivery the claim just read (owner, lease end, now, id). It reads epoch and
     * attempts with the row, so nothing is returned: SQLite builds a temporary table for every
     * statement with RETURNING, which cost more than the update.
     */
    lease: db.prepare<[string, number, number, number]>(
      `UPDATE deliveries SET status = 'delivering', attempts = attempts + 1, epoch = epoch + 1, lease_owner = ?,
      available_at = ?, updated_at = ? WHERE id = ?`),
    /** Lanes due for a claim, each with its cursor (none before its first delivery), for the claimed events' positions. */
    readyLanes: db.prepare<[number, number, number, number], { lane: string; delivered: number | null; last_id: string | null }>(
      `SELECT l.lane, c.delivered, c.last_id FROM lanes l LEFT JOIN lane_cursors c ON c.target_id = l.target_id AND c.lane = l.lane
      WHERE l.target_id = ? AND l.ready_at <= ? AND (l.leased_until IS NULL OR l.leased_until <= ?)
      ORDER BY l.ready_at LIMIT +?`),
    laneHead: db.prepareRows<[number, string, number], DueRow>(
      `SELECT ${DUE_COLUMNS} FROM deliveries d JOIN messages m ON m.pk = d.message_pk
      WHERE d.target_id = ? AND d.lane = ? AND d.available_at IS NOT NULL ORDER BY d.position LIMIT +?`, dueRow),
    setLaneReady: db.prepare<[number, number, string]>('UPDATE lanes SET ready_at = ? WHERE target_id = ? AND lane = ?'),
    waitForFill: db.prepare<[number, number, string]>('UPDATE lanes SET ready_at = ?, filling = 1 WHERE target_id = ? AND lane = ?'),
    leaseLane: db.prepare<[number, number, number, string]>('UPDATE lanes SET ready_at = ?, leased_until = ?, filling = 0 WHERE target_id = ? AND lane = ?'),
    unleaseLane: db.prepare<[number, number, string]>('UPDATE lanes SET ready_at = ?, leased_until = NULL WHERE target_id = ? AND lane = ?'),
    deleteLane: db.prepare<[number, string]>('DELETE FROM lanes WHERE target_id = ? AND lane = ?'),
    renew: db.prepare<[number, number, number, number], DeliveryLane>(
      `UPDATE deliveries SET available_at = ?, updated_at = ? WHERE id = ? AND epoch = ? AND status = 'delivering' RETURNING target_id, lane`),
    /** Untried: available now, or at its message's deliverAt when that is later (a lane's claim takes messages behind a due head). */
    release: db.prepare<[number, number, number, number, number], DeliveryLane>(
      `UPDATE deliveries SET status = 'ready', attempts = attempts - 1, lease_owner = NULL, updated_at = ?,
        available_at = MAX(?, COALESCE((SELECT m.deliver_at FROM messages m WHERE m.pk = deliveries.message_pk), ?))
      WHERE id = ? AND epoch = ? AND status = 'delivering' RETURNING target_id, lane`),
    /**
     * The delivery a settlement names, as long as that attempt holds it (id, epoch): null when
     * fenced; with its lane's state (null without a lane row, and at once without a lane: SQLite
     * looks nothing up for a NULL key).
     */
    settling: db.prepare<[number, number], DeliveryLane & { id: number; position: number; message_pk: number; lane_state: string | null }>(
      `SELECT d.id, d.target_id, d.lane, d.position, d.message_pk, l.state AS lane_state FROM deliveries d
      LEFT JOIN lanes l ON l.target_id = d.target_id AND l.lane = d.lane
      WHERE d.id = ? AND d.epoch = ? AND d.status = 'delivering'`),
    /**
     * One outcome of a delivery settling just found: status, availableAt, reason, delivered (1:
     * keep result), result, now, id. Positional, as this runs for every delivery and binding names
     * costs more; read apart from the update because an update with RETURNING builds a temporary table.
     */
    settle: db.prepare<[string, number | null, string | null, number, string | null, number, number]>(
      `UPDATE deliveries SET status = ?, available_at = ?, lease_owner = NULL, last_error = ?,
        result = CASE WHEN ? THEN ? ELSE result END, updated_at = ? WHERE id = ?`),
    /** An attempt's record (delivery id, attempt, startedAt, durationMs, statusCode, error, response) of a delivery just settled. */
    insertAttempt: db.prepare<[number, number, number, number, number | null, string | null, string | null]>(
      `INSERT INTO attempts (delivery_id, attempt, started_at, duration_ms, status_code, error, response, fenced) VALUES (?, ?, ?, ?, ?, ?, ?, 0)`),
    /**
     * The same for a fenced attempt (the call did happen), as long as its delivery is still kept and
     * a later attempt took it over (epoch moved on): the same attempt settled again is no new call.
     */
    insertFencedAttempt: db.prepare<[number, number, number, number, number | null, string | null, string | null, number, number]>(
      `INSERT INTO attempts (delivery_id, attempt, started_at, duration_ms, status_code, error, response, fenced)
      SELECT ?, ?, ?, ?, ?, ?, ?, 1 WHERE EXISTS (SELECT 1 FROM deliveries WHERE id = ? AND epoch <> ?)`),
    /** A lane's cursor past one more delivery: how many were delivered, and the last one's id (the lane positions receivers are told). */
    advanceCursor: db.prepare<[number, string, number]>(`INSERT INTO lane_cursors (target_id, lane, delivered, last_id) SELECT ?, ?, 1, id FROM messages WHERE pk = ?
      ON CONFLICT (target_id, lane) DO UPDATE SET delivered = delivered + 1, last_id = excluded.last_id`),
    nextHead: db.prepare<[number, string], { id: number; position: number; status: string; available_at: number }>(
      `SELECT id, position, status, available_at FROM deliveries WHERE target_id = ? AND lane = ? AND available_at IS NOT NULL
      ORDER BY position LIMIT 1`),
    setLane: db.prepare<{ state: string; readyAt: number | null; reason: string | null; now: number; targetId: number; lane: string }>(
      `UPDATE lanes SET state = @state, ready_at = @readyAt, leased_until = NULL, reason = @reason,
        since = CASE WHEN @state = 'active' THEN NULL ELSE COALESCE(since, @now) END WHERE target_id = @targetId AND lane = @lane`),
    /**
     * When the first delivery of one priority of a plain queue is due (expired ones are not work:
     * the expiry sweep takes them out). The first in due order, not MIN(): with the expiry
     * condition SQLite computed MIN over every live delivery.
     */
    firstDueAtPriority: db.prepare<{ targetId: number; priority: number; now: number }, { at: number }>(`SELECT available_at AS at
      FROM deliveries INDEXED BY deliveries_by_priority
      WHERE target_id = @targetId AND lane IS NULL AND available_at IS NOT NULL AND priority = @priority AND (expires_at IS NULL OR expires_at > @now)
      ORDER BY available_at LIMIT 1`),
    nextLane: db.prepare<[number], { at: number | null }>('SELECT MIN(ready_at) AS at FROM lanes WHERE target_id = ? AND ready_at IS NOT NULL'),
    ...counterStatements(connection),
  };
}

export type Statements = ReturnType<typeof prepareStatements>;

/** A prepared statement taking parameters `P` (positional, or one object of named ones) and reading rows `R`. */
export interface Prepared<P extends unknown[], R> {
  run(...params: P): { changes: number; lastInsertRowid: number | bigint };
  get(...params: P): R | undefined;
  all(...params: P): R[];
}

/**
 * `db.prepare` typed by parameters and rows, so statements need no casts where they are used.
 * `prepareRows` reads each row as an array of values and makes it an object with `toRow`: for
 * rows of many columns read on every delivery, as better-sqlite3 builds an object column by
 * column through V8's slowest path (about twice the cost of the whole row read as values).
 */
export function typed(db: Db): {
  prepare<P extends unknown[] | object = unknown[], R = unknown>(source: string): Prepared<P extends unknown[] ? P : [P], R>;
  prepareRows<P extends unknown[], R>(source: string, toRow: (values: unknown[]) => R): Prepared<P, R>;
} {
  return {
    prepare: (source: string) => db.prepare(source) as never,
    prepareRows<P extends unknown[], R>(source: string, toRow: (values: unknown[]) => R): Prepared<P, R> {
      const statement = db.prepare<P, unknown[]>(source).raw(true);
      return {
        run: (...params) => statement.run(...params),
        get: (...params) => {
          const values = statement.get(...params);
          return values === undefined ? undefined : toRow(values);
        },
        all: (...params) => statement.all(...params).map(toRow),
      };
    },
  };
}

/**
 * Per-target counters kept in the channel row, changed in the transaction that changes the
 * deliveries they count, so stats() reads them instead of counting rows (SQLite has one writer:
 * the row is never contended).
 */
export function counterStatements(connection: Db) {
  const db = typed(connection);
  return {
    count: db.prepare<{ depth: number; inFlight: number; delivered: number; deadlettered: number; skipped: number; sequence: number; targetId: number }>(
      `UPDATE channels SET depth = depth + @depth, in_flight = in_flight + @inFlight, delivered_count = delivered_count + @delivered,
        deadlettered_count = deadlettered_count + @deadlettered, skipped_count = skipped_count + @skipped,
        delivered_sequence = MAX(delivered_sequence, @sequence)
      WHERE id = @targetId`),
  };
}
