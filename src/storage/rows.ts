import type { AttemptRecord, MessageMetadata, MessageStatus, StoredMessage } from '../domain/message.js';
import type { DeliveryView, LanePosition, LaneView, LiveDelivery, Page, SendResult, TargetStats } from './port.js';
import type { SubscriptionFilter } from '../domain/subscription-filter.js';
import { deliveryStatus, messageStatus, parseDeliveryState, parseLaneState, type StoredDelivery } from '../domain/delivery-state.js';

/** Row shapes and their mapping to the port's types, shared by the SQLite and PostgreSQL adapters. */

/** A channel as the adapters cache it (names, kinds and orderings never change once declared). */
export interface ChannelRowBase {
  id: number;
  name: string;
  kind: 'queue' | 'fifo' | 'topic' | 'subscription';
  topicId: number | null;
  topicName: string | null;
  ordering: 'none' | 'key' | 'topic';
}

export interface MessageRow {
  pk: number;
  id: string;
  key: string | null;
  type: string;
  data: string;
  metadata: string;
  created_at: number;
  deliver_at: number | null;
  sequence: number | null;
  priority: number;
  expires_at: number | null;
}

export interface DeliveryRow extends MessageRow {
  delivery_id: number;
  target_name: string;
  channel_name: string;
  lane: string | null;
  status: string;
  attempts: number;
  available_at: number | null;
  last_error: string | null;
  result: string | null;
  updated_at: number;
  lane_state: string | null;
  is_head: number | null;
}

/**
 * The most a page of full deliveries (dead letters, skipped messages, parked or stalled lanes with
 * their heads) holds of message data, results and attempt records: past it the page ends early,
 * with `next`, whatever `limit` asked for, so that one request never answers hundreds of MiB.
 */
export const PAGE_BYTES = 4 * 1024 * 1024;

/**
 * Deliveries an operation on a whole list (redrive, purge or redeliver without ids) changes per
 * transaction: the list goes chunk by chunk, so a large one neither holds SQLite's event loop nor
 * keeps one long PostgreSQL transaction open.
 */
export const ALL_CHUNK = 2_000;

/**
 * An operation on a whole list, chunk by chunk: `next(after)` gives the ids of the next chunk
 * (ascending, above `after`, at most ALL_CHUNK, among the deliveries the list held when the
 * operation began, so each is visited once), `apply` changes them in a transaction of its own
 * and says how many it changed. The event loop gets a turn between chunks. Returns the total.
 */
export async function inChunks(next: (after: number) => number[] | Promise<number[]>, apply: (ids: number[]) => number | Promise<number>): Promise<number> {
  let after = 0;
  let total = 0;
  for (;;) {
    const ids = await next(after);
    if (ids.length === 0) return total;
    total += await apply(ids);
    if (ids.length < ALL_CHUNK) return total;
    after = ids[ids.length - 1]!;
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** Roughly what a listed delivery adds to an answer: its data, metadata and result, and its attempts' records. */
export function deliveryBytes(d: { data: string; metadata: string; result: string | null; attempts: number }): number {
  return d.data.length + d.metadata.length + (d.result?.length ?? 0) + d.attempts * 512 + 256;
}

/**
 * The page of `rows` (fetched as `limit` + 1) within `limit` items and PAGE_BYTES: at least one
 * item; `next` is the cursor of the last item kept when more follow.
 */
export function pageWithin<R>(rows: readonly R[], limit: number, bytesOf: (row: R) => number, cursorOf: (row: R) => string): { rows: R[]; next: string | null } {
  let bytes = 0;
  const end = Math.min(rows.length, limit);
  for (let i = 0; i < end; i++) {
    bytes += bytesOf(rows[i]!);
    if (bytes > PAGE_BYTES && i > 0) return { rows: rows.slice(0, i), next: cursorOf(rows[i - 1]!) };
  }
  return { rows: rows.slice(0, end), next: rows.length > limit ? cursorOf(rows[limit - 1]!) : null };
}

/** A page of lanes, their heads counted against PAGE_BYTES like `pageWithin` (`lanes` fetched as `limit` + 1). */
export async function lanesWithin<L extends { lane: string }>(lanes: readonly L[], limit: number, view: (lane: L) => LaneView | Promise<LaneView>): Promise<Page<LaneView>> {
  const items: LaneView[] = [];
  let bytes = 0;
  for (const lane of lanes.slice(0, limit)) {
    const item = await view(lane);
    const head = item.head;
    bytes += head ? deliveryBytes({ data: head.message.data, metadata: '', result: head.result, attempts: head.history.length }) : 256;
    if (bytes > PAGE_BYTES && items.length > 0) return { items, next: items[items.length - 1]!.lane };
    items.push(item);
  }
  return { items, next: lanes.length > limit ? lanes[limit - 1]!.lane : null };
}

export interface AttemptRow {
  attempt: number;
  started_at: number;
  duration_ms: number;
  status_code: number | null;
  error: string | null;
  response: string | null;
  fenced: number | boolean;
}

export function rowToMessage(row: MessageRow, channel: { name: string; kind: string; topicName?: string | null }): StoredMessage {
  const channelName = channel.kind === 'subscription' ? channel.topicName ?? channel.name : channel.name;
  return {
    id: row.id,
    channel: channelName,
    key: row.key,
    type: row.type,
    data: row.data,
    metadata: JSON.parse(row.metadata) as MessageMetadata,
    createdAt: row.created_at,
    deliverAt: row.deliver_at,
    sequence: row.sequence,
    priority: row.priority,
    expiresAt: row.expires_at,
  };
}

/** The status a user sees: the domain derives it from the stored state (see domain/delivery-state.ts). */
export function viewStatus(row: Pick<DeliveryRow, 'status' | 'attempts' | 'available_at' | 'lane_state' | 'is_head'>, now: number): MessageStatus {
  return deliveryStatus(storedDelivery(row), now);
}

export function storedDelivery(row: Pick<DeliveryRow, 'status' | 'attempts' | 'available_at' | 'lane_state' | 'is_head'>): StoredDelivery {
  return {
    state: parseDeliveryState(row.status),
    attempts: row.attempts,
    availableAt: row.available_at,
    headOf: row.is_head ? parseLaneState(row.lane_state) : null,
  };
}

export function rowToAttempt(row: AttemptRow): AttemptRecord {
  const record: AttemptRecord = {
    attempt: row.attempt,
    startedAt: row.started_at,
    durationMs: row.duration_ms,
    statusCode: row.status_code,
    error: row.error,
    response: row.response,
  };
  if (row.fenced) record.fenced = true;
  return record;
}

export function rowToDelivery(row: DeliveryRow, history: AttemptRecord[], now: number): DeliveryView {
  return {
    target: row.target_name,
    status: viewStatus(row, now),
    attempts: row.attempts,
    lane: row.lane,
    availableAt: row.available_at,
    lastError: row.last_error,
    result: row.result,
    updatedAt: row.updated_at,
    message: rowToMessage(row, { name: row.channel_name, kind: 'queue' }),
    history,
  };
}

/** A live delivery as the drain listing reads it: no payload, with its lane's state and whether it is the head. */
export interface LiveRow {
  delivery_id: number;
  target_name: string;
  channel_name: string;
  id: string;
  key: string | null;
  type: string;
  lane: string | null;
  status: string;
  attempts: number;
  available_at: number;
  last_error: string | null;
  lane_state: string | null;
  /** Set while the current attempt is deferred (answered 202): when its completion is due. */
  deferred_until: number | string | null;
  lane_leased_until: number | string | null;
  epoch: number;
  is_head: number | boolean | null;
  paused: number | boolean;
}

export function rowToLive(row: LiveRow, now: number): LiveDelivery {
  const head = Boolean(row.is_head);
  return {
    deliveryId: row.delivery_id,
    target: row.target_name,
    channel: row.channel_name,
    messageId: row.id,
    key: row.key,
    type: row.type,
    lane: row.lane,
    status: viewStatus({ status: row.status, attempts: row.attempts, available_at: row.available_at, lane_state: row.lane_state, is_head: head ? 1 : 0 }, now),
    attempts: row.attempts,
    availableAt: row.available_at,
    lastError: row.last_error,
    laneState: row.lane === null ? null : ((row.lane_state ?? 'active') as 'active' | 'parked' | 'stalled'),
    head,
    paused: Boolean(row.paused),
    deferredUntil: row.deferred_until === null ? null : Number(row.deferred_until),
    laneLeasedUntil: row.lane_leased_until === null ? null : Number(row.lane_leased_until),
    epoch: Number(row.epoch),
  };
}

/** A delivery of a message whose id was sent again, with its lane's state when it heads its lane. */
export interface DuplicateRow {
  status: string | null;
  attempts: number | null;
  available_at: number | null;
  lane_state: string | null;
  is_head: number | boolean | null;
  sequence: number | null;
}

/** The answer to a duplicate send: the message's status as `GET /v1/messages/{id}` shows it. */
export function duplicateResult(id: string, rows: readonly DuplicateRow[], now: number): SendResult {
  const statuses = rows.flatMap((r) => (r.status === null ? [] : [viewStatus({ status: r.status, attempts: r.attempts ?? 0, available_at: r.available_at, lane_state: r.lane_state, is_head: r.is_head ? 1 : 0 }, now)]));
  const result: SendResult = { id, status: messageStatus(statuses), duplicate: true };
  if (rows[0]?.sequence != null) result.sequence = rows[0].sequence;
  return result;
}

/**
 * Lane positions of a claimed run of a lane, from its cursor (how many of the lane were delivered,
 * and the last one's id): the i-th message is the lane's (delivered + i + 1)-th, and its previous
 * is the message before it in the run, or the cursor's last delivered one.
 */
export function lanePositions(lane: string, cursor: { delivered: number | string; last_id: string } | undefined, ids: readonly string[]): LanePosition[] {
  const delivered = cursor === undefined ? 0 : Number(cursor.delivered);
  return ids.map((_, i) => ({ lane, position: delivered + i + 1, previousId: i > 0 ? ids[i - 1]! : cursor?.last_id || null }));
}

/** One target's counters as both adapters' stats statements select them. */
export interface TargetStatsRow {
  name: string;
  kind: TargetStats['kind'];
  /** A boolean on PostgreSQL, 0 or 1 on SQLite. */
  paused: boolean | number;
  depth: number;
  in_flight: number;
  delivered: number;
  deadlettered: number;
  skipped: number;
  delivered_sequence: number;
  last_sequence: number;
  swept_sequence: number;
  /** Created time of the oldest live message, or null. */
  oldest: number | null;
  parked: number;
  stalled: number;
  /** Subscriptions: the stored filter (JSON), or null. */
  filter: string | null;
}

export function rowToTargetStats(r: TargetStatsRow, now: number): TargetStats {
  const stats: TargetStats = {
    name: r.name, kind: r.kind, paused: r.paused === true || r.paused === 1, depth: r.depth, inFlight: r.in_flight,
    oldestAgeMs: r.oldest === null ? 0 : Math.max(0, now - r.oldest), deadLettered: r.deadlettered, skipped: r.skipped,
    delivered: r.delivered, parkedLanes: r.parked, stalledLanes: r.stalled,
  };
  if (r.kind === 'topic') {
    stats.lastSequence = r.last_sequence;
    stats.keptFrom = r.swept_sequence + 1;
  }
  if (r.kind === 'subscription') stats.lastSequence = r.delivered_sequence;
  if (r.filter !== null) stats.filter = JSON.parse(r.filter) as SubscriptionFilter;
  return stats;
}

/** A delivery in flight as the deferral statements of both adapters read it (with its target and message id). */
export interface InFlightRow {
  id: number;
  epoch: number;
  attempts: number;
  status: string;
  lane: string | null;
  target_id: number;
  target: string;
  deferred_epoch: number | null;
  deferred_at: number | null;
  message_id: string;
  expires_at: number | null;
}
