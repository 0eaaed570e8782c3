import type { AttemptRecord, MessageMetadata, MessageStatus, StoredMessage } from '../domain/message.js';
import type { DeliveryView, LiveDelivery } from './port.js';

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

export interface AttemptRow {
  attempt: number;
  started_at: number;
  duration_ms: number;
  status_code: number | null;
  error: string | null;
  response: string | null;
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
  };
}

/** The status a user sees, derived from the stored status, the attempts, the time and the lane. */
export function viewStatus(row: Pick<DeliveryRow, 'status' | 'attempts' | 'available_at' | 'lane_state' | 'is_head'>, now: number): MessageStatus {
  if (row.status !== 'ready') return row.status as MessageStatus;
  if (row.is_head && row.lane_state === 'parked') return 'parked';
  if (row.is_head && row.lane_state === 'stalled') return 'stalled';
  if (row.attempts > 0) return 'retrying';
  return row.available_at !== null && row.available_at > now ? 'scheduled' : 'queued';
}

export function rowToAttempt(row: AttemptRow): AttemptRecord {
  return {
    attempt: row.attempt,
    startedAt: row.started_at,
    durationMs: row.duration_ms,
    statusCode: row.status_code,
    error: row.error,
    response: row.response,
  };
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
  };
}
