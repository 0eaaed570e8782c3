import { parseRowCursor } from '../row-cursor.js';
import type { Database as Db } from 'better-sqlite3';
import type { Clock } from '../../domain/clock.js';
import { ConflictError, ValidationError } from '../../domain/errors.js';
import { laneActionRefusal, parseLaneState } from '../../domain/delivery-state.js';
import { MAX_DATE_MS } from '../../domain/message.js';
import type { DeliveryView, LaneView, LiveDelivery, Page, PageRequest, SearchPageRequest, StoreAdmin, MessageSummary } from '../port.js';
import type { ChannelCache, ChannelRow } from './channel-cache.js';
import { counterStatements, MESSAGE_COLUMNS, typed } from './statements.js';
import { ALL_CHUNK, deliveryBytes, inChunks, lanesWithin, pageWithin, rowToAttempt, rowToDelivery, rowToLive, rowToTargetStats, type AttemptRow, type DeliveryRow, type LiveRow, rowToMessage, type MessageRow, type TargetStatsRow } from '../rows.js';
import { resolveFilter, SEARCH_EXAMINES, searchConditions, searchWindow, windowNext, type MessageFilter } from '../message-search.js';

type Admin = StoreAdmin;


const NO_CHANGE = { depth: 0, inFlight: 0, delivered: 0, deadlettered: 0, skipped: 0, sequence: 0 };

/** deliveries_kept's condition, word for word (see deadletteredPage). */
const KEPT = "status IN ('deadlettered', 'skipped')";

const DELIVERY_SELECT = `SELECT d.id AS delivery_id, tc.name AS target_name, mc.name AS channel_name, d.lane, d.status, d.attempts,
  d.available_at, d.last_error, d.result, d.updated_at, m.pk, m.id, m.key, m.type, m.data, m.metadata, m.created_at, m.deliver_at,
  m.sequence, m.priority, m.expires_at, l.state AS lane_state,
  (d.available_at IS NOT NULL AND d.lane IS NOT NULL AND d.position = (SELECT MIN(h.position) FROM deliveries h
    WHERE h.target_id = d.target_id AND h.lane = d.lane AND h.available_at IS NOT NULL)) AS is_head
  FROM deliveries d JOIN messages m ON m.pk = d.message_pk JOIN channels tc ON tc.id = d.target_id
  JOIN channels mc ON mc.id = m.channel_id LEFT JOIN lanes l ON l.target_id = d.target_id AND l.lane = d.lane`;

/** Live deliveries without payloads; unordered and ordered targets each through their own partial index. */
const LIVE_SELECT = `SELECT d.id AS delivery_id, tc.name AS target_name, mc.name AS channel_name, m.id, m.key, m.type, d.lane, d.status,
  d.attempts, d.available_at, d.last_error, l.state AS lane_state,
  CASE WHEN d.status = 'delivering' AND d.deferred_epoch = d.epoch THEN d.deferred_until END AS deferred_until,
  l.leased_until AS lane_leased_until,
  d.epoch,
  (d.lane IS NOT NULL AND d.position = (SELECT MIN(h.position) FROM deliveries h
    WHERE h.target_id = d.target_id AND h.lane = d.lane AND h.available_at IS NOT NULL)) AS is_head,
  (tc.paused OR COALESCE(tp.paused, 0)) AS paused
  FROM deliveries d JOIN messages m ON m.pk = d.message_pk JOIN channels tc ON tc.id = d.target_id
  JOIN channels mc ON mc.id = m.channel_id LEFT JOIN channels tp ON tp.id = tc.topic_id
  LEFT JOIN lanes l ON l.target_id = d.target_id AND l.lane = d.lane`;

/**
 * A reopened delivery that expires gets its time to live again, counted from now (?1): the span
 * its message had from when it was due until it expired.
 */
// Never past the latest time a Date holds (a message that expired there would otherwise go beyond it).
const RENEW_EXPIRY = `expires_at = CASE WHEN expires_at IS NULL THEN NULL ELSE MIN(${MAX_DATE_MS}, @now + (SELECT MAX(0, m.expires_at - MAX(m.created_at, COALESCE(m.deliver_at, 0)))
  FROM messages m WHERE m.pk = deliveries.message_pk)) END`;

/** Operator and inspection queries: not on the delivery hot path. */
export function createSqliteAdmin(db: Db, channels: ChannelCache, clock: Clock): Admin {
  const sql = {
    byMessageId: db.prepare(`${DELIVERY_SELECT} WHERE m.id = ? ORDER BY d.id`),
    byChannelAndId: db.prepare(`${DELIVERY_SELECT} WHERE m.id = ? AND m.channel_id = ? ORDER BY d.id`),
    /** Topic messages no subscription took (filters), which the delivery lookups above cannot find. ? id, ? channel or null. */
    undelivered: db.prepare(`SELECT ${MESSAGE_COLUMNS}, mc.name AS channel_name FROM messages m JOIN channels mc ON mc.id = m.channel_id
      WHERE m.id = ? AND (? IS NULL OR m.channel_id = ?) AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.message_pk = m.pk)`),
    byDeliveryId: db.prepare(`${DELIVERY_SELECT} WHERE d.id = ?`),
    // SQLite takes a partial index only when the statement repeats its condition word for word:
    // `status = 'skipped'` alone does not let it prove `status IN (...)`, and a page then read
    // every delivery from the cursor on, of every target. KEPT repeats deliveries_kept's.
    deadletteredPage: db.prepare(`${DELIVERY_SELECT} WHERE d.target_id = ? AND d.status = 'deadlettered' AND d.${KEPT} AND d.id > ? ORDER BY d.id LIMIT ?`),
    skippedPage: db.prepare(`${DELIVERY_SELECT} WHERE d.target_id = ? AND d.status = 'skipped' AND d.${KEPT} AND d.id > ? ORDER BY d.id LIMIT ?`),
    byMessagePks: db.prepare(`${DELIVERY_SELECT} WHERE d.message_pk IN (SELECT value FROM json_each(?)) ORDER BY d.id`),
    attempts: db.prepare('SELECT attempt, started_at, duration_ms, status_code, error, response, fenced FROM attempts WHERE delivery_id = ? ORDER BY rowid'),
    // One row per target: counters kept by the transactions that change deliveries, the oldest
    // live message through deliveries_live (positions follow creation order), and the blocked
    // lanes through lanes_blocked (whose condition each count repeats, so that SQLite takes it).
    // Nothing here grows with the messages kept.
    stats: typed(db).prepare<[], TargetStatsRow>(`SELECT c.id, c.name, c.kind, c.paused, c.depth, c.in_flight,
        c.delivered_count AS delivered, c.deadlettered_count AS deadlettered, c.skipped_count AS skipped, c.delivered_sequence, c.last_sequence, c.swept_sequence, c.filter,
        (SELECT m.created_at FROM deliveries d JOIN messages m ON m.pk = d.message_pk
          WHERE d.target_id = c.id AND d.available_at IS NOT NULL ORDER BY d.position LIMIT 1) AS oldest,
        (SELECT COUNT(*) FROM lanes l WHERE l.target_id = c.id AND l.state <> 'active' AND l.state = 'parked') AS parked,
        (SELECT COUNT(*) FROM lanes l WHERE l.target_id = c.id AND l.state <> 'active' AND l.state = 'stalled') AS stalled
      FROM channels c ORDER BY c.id`),
    count: counterStatements(db).count,
    setPaused: db.prepare('UPDATE channels SET paused = ? WHERE id = ?'),
    // Through lanes_blocked, sorted: in lane order through the primary key, SQLite read every lane of the target to find the few blocked.
    blockedLanes: db.prepare(`SELECT lane, state, reason, since FROM lanes INDEXED BY lanes_blocked
      WHERE target_id = ? AND state <> 'active' AND (? IS NULL OR lane > ?) ORDER BY lane LIMIT ?`),
    lane: db.prepare('SELECT lane, state, reason, since FROM lanes WHERE target_id = ? AND lane = ?'),
    lanePending: db.prepare('SELECT COUNT(*) AS n FROM deliveries WHERE target_id = ? AND lane = ? AND available_at IS NOT NULL'),
    laneHead: db.prepare(`SELECT id, status, attempts FROM deliveries WHERE target_id = ? AND lane = ? AND available_at IS NOT NULL ORDER BY position LIMIT 1`),
    retryLane: db.prepare(`UPDATE lanes SET state = 'active', reason = NULL, since = NULL, ready_at = ? WHERE target_id = ? AND lane = ?`),
    // An operator's retry gives the head a fresh budget of attempts, as a redrive does.
    makeReady: db.prepare(`UPDATE deliveries SET status = 'ready', attempts = 0, available_at = ?, updated_at = ? WHERE id = ? AND status = 'ready'`),
    skip: db.prepare(`UPDATE deliveries SET status = 'skipped', available_at = NULL, updated_at = ? WHERE id = ?`),
    nextHead: db.prepare(`SELECT available_at FROM deliveries WHERE target_id = ? AND lane = ? AND available_at IS NOT NULL ORDER BY position LIMIT 1`),
    deleteLane: db.prepare('DELETE FROM lanes WHERE target_id = ? AND lane = ?'),
    reopenIds: db.prepare(`UPDATE deliveries SET status = 'ready', attempts = 0, available_at = @now, last_error = NULL, updated_at = @now, ${RENEW_EXPIRY}
      WHERE target_id = @targetId AND status = @status AND message_pk IN (SELECT pk FROM messages WHERE id IN (SELECT value FROM json_each(@ids)))
      RETURNING lane, message_pk, expires_at`),
    reopenDeliveries: db.prepare(`UPDATE deliveries SET status = 'ready', attempts = 0, available_at = @now, last_error = NULL, updated_at = @now, ${RENEW_EXPIRY}
      WHERE id IN (SELECT value FROM json_each(@deliveries)) AND status = @status RETURNING lane, message_pk, expires_at`),
    purgeDeliveries: db.prepare(`SELECT id, message_pk FROM deliveries WHERE id IN (SELECT value FROM json_each(?)) AND status = 'deadlettered'`),
    lastDelivery: db.prepare('SELECT MAX(id) AS id FROM deliveries'),
    /** The next chunk of a final list (?1 target, after ?2, up to ?3, ?4 of them), through deliveries_kept. */
    deadletteredChunk: db.prepare(`SELECT id FROM deliveries WHERE target_id = ? AND status = 'deadlettered' AND ${KEPT} AND id > ? AND id <= ? ORDER BY id LIMIT ?`),
    skippedChunk: db.prepare(`SELECT id FROM deliveries WHERE target_id = ? AND status = 'skipped' AND ${KEPT} AND id > ? AND id <= ? ORDER BY id LIMIT ?`),
    renewMessageExpiry: db.prepare('UPDATE messages SET expires_at = ? WHERE pk = ?'),
    wakeLane: db.prepare(`INSERT INTO lanes (target_id, lane, state, ready_at) VALUES (?, ?, 'active', ?)
      ON CONFLICT (target_id, lane) DO UPDATE SET ready_at = MIN(COALESCE(ready_at, excluded.ready_at), excluded.ready_at) WHERE state = 'active'`),
    purgeIds: db.prepare(`SELECT id, message_pk FROM deliveries WHERE target_id = ? AND status = 'deadlettered'
      AND message_pk IN (SELECT pk FROM messages WHERE id IN (SELECT value FROM json_each(?)))`),
    // In the order they were stored (position), through deliveries_live: in id order SQLite read the
    // deliveries of every target, kept ones included, until it had found the limit.
    liveUnordered: db.prepare(`${LIVE_SELECT} WHERE d.target_id = ? AND d.lane IS NULL AND d.available_at IS NOT NULL ORDER BY d.position, d.id LIMIT ?`),
    liveOrdered: db.prepare(`${LIVE_SELECT} WHERE d.target_id = ? AND d.lane IS NOT NULL AND d.available_at IS NOT NULL
      ORDER BY d.lane, d.position LIMIT ?`),
    hurryUnordered: db.prepare(`UPDATE deliveries SET available_at = ?, updated_at = ?
      WHERE target_id = ? AND lane IS NULL AND available_at > ? AND status = 'ready' AND attempts > 0`),
    // Lanes waiting for a retry of their head: active, not in flight, due later.
    waitingHeads: db.prepare(`SELECT l.lane, h.id FROM lanes l JOIN deliveries h ON h.id = (SELECT d.id FROM deliveries d
        WHERE d.target_id = l.target_id AND d.lane = l.lane AND d.available_at IS NOT NULL ORDER BY d.position LIMIT 1)
      WHERE l.target_id = ? AND l.state = 'active' AND l.ready_at > ? AND (l.leased_until IS NULL OR l.leased_until <= ?)
        AND h.status = 'ready' AND h.attempts > 0 AND h.available_at > ?`),
    hurryHead: db.prepare('UPDATE deliveries SET available_at = ?, updated_at = ? WHERE id = ?'),
    hurryLane: db.prepare('UPDATE lanes SET ready_at = ? WHERE target_id = ? AND lane = ?'),
    listBreakers: db.prepare('SELECT origin, state, open_until, reason, updated_at FROM breakers ORDER BY origin'),
    saveBreaker: db.prepare(`INSERT INTO breakers (origin, state, open_until, reason, updated_at) VALUES (?, ?, ?, ?, ?)
      ON CONFLICT (origin) DO UPDATE SET state = excluded.state, open_until = excluded.open_until, reason = excluded.reason,
      updated_at = excluded.updated_at WHERE excluded.updated_at >= breakers.updated_at`),
    deleteAttempts: db.prepare('DELETE FROM attempts WHERE delivery_id = ?'),
    deleteDelivery: db.prepare('DELETE FROM deliveries WHERE id = ?'),
    /** A message none of whose deliveries is left (its last one purged) goes with it. */
    deleteOrphanMessage: db.prepare('DELETE FROM messages WHERE pk = ? AND NOT EXISTS (SELECT 1 FROM deliveries WHERE message_pk = ?)'),
  };

  const now = () => clock.now();
  const history = (deliveryId: number) => (sql.attempts.all(deliveryId) as AttemptRow[]).map(rowToAttempt);
  const toView = (row: DeliveryRow) => rowToDelivery(row, history(row.delivery_id), now());

  // One prepared statement per combination of filters in use (a handful), so each plans with its own indexes.
  const searches = new Map<string, ReturnType<Db['prepare']>>();
  /** The lowest and highest message pk: the search's window (message-search.ts), each end read from the primary key. */
  const pkBounds = typed(db).prepare<[], { min: number | null; max: number | null }>('SELECT (SELECT MIN(pk) FROM messages) AS min, (SELECT MAX(pk) FROM messages) AS max');
  function listMessages(filter: MessageFilter, page: SearchPageRequest): Page<MessageSummary> {
    const channel = filter.channel === undefined ? undefined : channels.require(filter.channel);
    const resolved = resolveFilter(filter, channel, page.cursor);
    const window = searchWindow(pkBounds.get()!, resolved.beforePk, page.examine ?? SEARCH_EXAMINES);
    const values: unknown[] = [];
    const param = (value: unknown) => (values.push(value), '?');
    const where = searchConditions({ ...resolved, fromPk: window.fromPk }, now(), param, (name) => name);
    const text = `SELECT m.pk, m.id, m.key, m.type, m.data, m.metadata, m.created_at, m.deliver_at, m.sequence, m.priority, m.expires_at, m.channel_id
      FROM messages m ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY m.pk DESC LIMIT ?`;
    let statement = searches.get(text);
    if (!statement) searches.set(text, (statement = db.prepare(text)));
    values.push(page.limit + 1);
    const rows = statement.all(values) as Array<MessageRow & { channel_id: number }>;
    const { rows: shown, next: within } = pageWithin(rows, page.limit, (r) => deliveryBytes({ ...r, result: null, attempts: 0 }), (r) => String(r.pk));
    const next = windowNext(within, window);
    const deliveries = sql.byMessagePks.all(JSON.stringify(shown.map((r) => r.pk))) as DeliveryRow[];
    const t = now();
    const items = shown.map((row) => ({
      message: rowToMessage(row, { name: channels.byId(row.channel_id)?.name ?? '', kind: 'queue' }),
      deliveries: deliveries.filter((d) => d.pk === row.pk).map((d) => {
        const { message: _message, history: _history, ...rest } = rowToDelivery(d, [], t);
        return rest;
      }),
    }));
    return { items, next };
  }

  function ordered(name: string): ChannelRow {
    const target = channels.require(name);
    if (target.ordering === 'none') throw new ValidationError(`'${name}' is not ordered: it has no lanes`);
    return target;
  }

  function finalPage(target: string, status: 'deadlettered' | 'skipped', page: PageRequest): Page<DeliveryView> {
    const row = channels.require(target);
    const after = parseRowCursor(page.cursor) ?? 0;
    const rows = (status === 'deadlettered' ? sql.deadletteredPage : sql.skippedPage).all(row.id, after, page.limit + 1) as DeliveryRow[];
    const kept = pageWithin(rows, page.limit, deliveryBytes, (r) => String(r.delivery_id));
    return { items: kept.rows.map(toView), next: kept.next };
  }

  /**
   * Every delivery of a final list, chunk by chunk (inChunks), each chunk its own transaction: a
   * list of a million dead letters was one transaction that held the process for seconds.
   */
  function eachChunk(target: ChannelRow, status: 'deadlettered' | 'skipped', apply: (deliveries: number[]) => number): Promise<number> {
    const upTo = (sql.lastDelivery.get() as { id: number | null }).id ?? 0;
    const chunkOf = status === 'deadlettered' ? sql.deadletteredChunk : sql.skippedChunk;
    return inChunks(
      (after) => (chunkOf.all(target.id, after, upTo, ALL_CHUNK) as Array<{ id: number }>).map((r) => r.id),
      (ids) => db.transaction(() => apply(ids)).immediate(),
    );
  }

  /** Final deliveries back to ready (inside the caller's transaction), their lanes woken; how many. */
  type Reopened = Array<{ lane: string | null; message_pk: number; expires_at: number | null }>;
  function reopened(row: ChannelRow, status: 'deadlettered' | 'skipped', lanes: Reopened, t: number): number {
    for (const l of lanes) if (l.expires_at !== null) sql.renewMessageExpiry.run(l.expires_at, l.message_pk);
    const n = lanes.length;
    sql.count.run({ ...NO_CHANGE, depth: n, deadlettered: status === 'deadlettered' ? -n : 0, skipped: status === 'skipped' ? -n : 0, targetId: row.id });
    for (const lane of new Set(lanes.map((l) => l.lane))) if (lane !== null) sql.wakeLane.run(row.id, lane, t);
    return n;
  }

  async function reopen(target: string, status: 'deadlettered' | 'skipped', ids?: readonly string[]): Promise<number> {
    const row = channels.require(target);
    if (ids) {
      return db.transaction(() => {
        const t = now();
        return reopened(row, status, sql.reopenIds.all({ now: t, targetId: row.id, status, ids: JSON.stringify(ids) }) as Reopened, t);
      }).immediate();
    }
    return eachChunk(row, status, (deliveries) => {
      const t = now();
      return reopened(row, status, sql.reopenDeliveries.all({ now: t, status, deliveries: JSON.stringify(deliveries) }) as Reopened, t);
    });
  }

  /** Dead letters deleted (inside the caller's transaction) with their attempts, and their messages when nothing else holds them. */
  function purged(row: ChannelRow, deleted: Array<{ id: number; message_pk: number }>): number {
    sql.count.run({ ...NO_CHANGE, deadlettered: -deleted.length, targetId: row.id });
    for (const d of deleted) {
      sql.deleteAttempts.run(d.id);
      sql.deleteDelivery.run(d.id);
      sql.deleteOrphanMessage.run(d.message_pk, d.message_pk);
    }
    return deleted.length;
  }

  function laneView(target: ChannelRow, lane: { lane: string; state: LaneView['state']; reason: string | null; since: number | null }): LaneView {
    const head = sql.laneHead.get(target.id, lane.lane) as { id: number } | undefined;
    const headRow = head ? (sql.byDeliveryId.get(head.id) as DeliveryRow) : undefined;
    return {
      target: target.name,
      lane: lane.lane,
      state: lane.state,
      reason: lane.reason,
      since: lane.since,
      pending: (sql.lanePending.get(target.id, lane.lane) as { n: number }).n,
      head: headRow ? toView(headRow) : null,
    };
  }

  return {
    async getMessage(id, channel) {
      const channelId = channel === undefined ? null : channels.require(channel).id;
      const rows = (channelId === null ? sql.byMessageId.all(id) : sql.byChannelAndId.all(id, channelId)) as DeliveryRow[];
      const byChannel = new Map<string, DeliveryRow[]>();
      for (const row of rows) byChannel.set(row.channel_name, [...(byChannel.get(row.channel_name) ?? []), row]);
      const found = [...byChannel.values()].map((group) => {
        const deliveries = group.map(toView);
        return { message: deliveries[0]!.message, deliveries };
      });
      const undelivered = sql.undelivered.all(id, channelId, channelId) as Array<MessageRow & { channel_name: string }>;
      return [...found, ...undelivered.map((row) => ({ message: rowToMessage(row, { name: row.channel_name, kind: 'topic' }), deliveries: [] }))];
    },
    async listMessages(filter, page) {
      return listMessages(filter, page);
    },
    async stats() {
      const t = now();
      return sql.stats.all().map((r) => rowToTargetStats(r, t));
    },
    async listDeadLetters(target, page) {
      return finalPage(target, 'deadlettered', page);
    },
    async redrive(target, ids) {
      return reopen(target, 'deadlettered', ids);
    },
    async purgeDeadLetters(target, ids) {
      const row = channels.require(target);
      type Deleted = Array<{ id: number; message_pk: number }>;
      if (ids) return db.transaction(() => purged(row, sql.purgeIds.all(row.id, JSON.stringify(ids)) as Deleted)).immediate();
      return eachChunk(row, 'deadlettered', (deliveries) => purged(row, sql.purgeDeliveries.all(JSON.stringify(deliveries)) as Deleted));
    },
    async setPaused(channel, paused) {
      sql.setPaused.run(paused ? 1 : 0, channels.require(channel).id);
      channels.reload();
    },
    async listBlockedLanes(target, page) {
      const row = ordered(target);
      const after = page.cursor ?? null;
      const lanes = sql.blockedLanes.all(row.id, after, after, page.limit + 1) as Array<Parameters<typeof laneView>[1]>;
      return lanesWithin(lanes, page.limit, (l) => laneView(row, l));
    },
    async getLane(target, lane) {
      const row = ordered(target);
      const found = sql.lane.get(row.id, lane) as Parameters<typeof laneView>[1] | undefined;
      return found ? laneView(row, found) : null;
    },
    async retryLane(target, lane) {
      const row = ordered(target);
      return db.transaction(() => {
        const t = now();
        const found = sql.lane.get(row.id, lane) as { state: string } | undefined;
        if (!found) return false;
        const head = sql.laneHead.get(row.id, lane) as { id: number; status: string; attempts: number } | undefined;
        const refusal = laneActionRefusal('retry', lane, parseLaneState(found.state)!, head);
        if (refusal) throw new ConflictError(refusal);
        sql.retryLane.run(t, row.id, lane);
        if (head) sql.makeReady.run(t, t, head.id);
        return true;
      }).immediate();
    },
    async skipLaneHead(target, lane) {
      const row = ordered(target);
      const skipped = db.transaction(() => {
        const t = now();
        const head = sql.laneHead.get(row.id, lane) as { id: number; status: string; attempts: number } | undefined;
        if (!head) return null;
        const state = (sql.lane.get(row.id, lane) as { state: string } | undefined)?.state ?? 'active';
        const refusal = laneActionRefusal('skip', lane, parseLaneState(state)!, head);
        if (refusal) throw new ConflictError(refusal);
        sql.skip.run(t, head.id);
        sql.count.run({ ...NO_CHANGE, depth: -1, skipped: 1, targetId: row.id });
        const next = sql.nextHead.get(row.id, lane) as { available_at: number } | undefined;
        if (next) sql.retryLane.run(Math.max(t, next.available_at), row.id, lane);
        else sql.deleteLane.run(row.id, lane);
        return head.id;
      }).immediate();
      if (skipped === null) return null;
      return toView(sql.byDeliveryId.get(skipped) as DeliveryRow);
    },
    async listSkipped(target, page) {
      return finalPage(target, 'skipped', page);
    },
    async redeliverSkipped(target, ids) {
      return reopen(target, 'skipped', ids);
    },
    async hurryRetries(targets) {
      const rows = targets.map((name) => channels.require(name));
      return db.transaction(() => {
        const t = now();
        let hurried = 0;
        for (const row of rows) {
          if (row.ordering === 'none') {
            hurried += sql.hurryUnordered.run(t, t, row.id, t).changes;
            continue;
          }
          for (const head of sql.waitingHeads.all(row.id, t, t, t) as Array<{ lane: string; id: number }>) {
            sql.hurryHead.run(t, t, head.id);
            sql.hurryLane.run(t, row.id, head.lane);
            hurried++;
          }
        }
        return hurried;
      }).immediate();
    },
    async listLive(targets, limit) {
      const rows = targets.map((name) => channels.require(name));
      const t = now();
      const live: LiveDelivery[] = [];
      for (const row of rows) {
        if (live.length >= limit) break;
        const found = (row.ordering === 'none' ? sql.liveUnordered : sql.liveOrdered).all(row.id, limit - live.length) as LiveRow[];
        for (const r of found) live.push(rowToLive(r, t));
      }
      return live;
    },
    async listBreakers() {
      const rows = sql.listBreakers.all() as Array<{ origin: string; state: 'open' | 'closed'; open_until: number | null; reason: string | null; updated_at: number }>;
      return rows.map((r) => ({ origin: r.origin, state: r.state, openUntil: r.open_until, reason: r.reason, updatedAt: r.updated_at }));
    },
    async saveBreaker(b) {
      sql.saveBreaker.run(b.origin, b.state, b.openUntil, b.reason, b.updatedAt);
    },
  };
}
