import { messageHeaderIssues } from './headers.js';

/**
 * Glossary
 * - channel: a queue (kind `queue` or `fifo`) or a topic, addressed by producers.
 * - target: where deliveries are drawn from: a queue, or one subscription of a topic
 *   (named `topic/subscription`). Every message sent to a queue has one delivery; every
 *   message published to a topic has one delivery per subscription.
 * - lane: the ordered stream inside an ordered target. A fifo queue and a subscription with
 *   ordering `key` have one lane per key; a subscription with ordering `topic` has one lane.
 *   At most one delivery (or one ordered batch) of a lane is in flight at any time.
 * - lease: a time-bounded claim on a delivery (and its lane) with an epoch; only the holder of
 *   the current epoch may settle it.
 * - parked / stalled: a fifo key (parked) or a subscription lane (stalled) that stopped at its
 *   head message after its attempts ran out or a permanent failure; parked keys wait for an
 *   operator, stalled lanes keep retrying at the capped backoff.
 */

export type MessageStatus =
  | 'scheduled'
  | 'queued'
  | 'delivering'
  | 'retrying'
  | 'delivered'
  | 'deadlettered'
  | 'parked'
  | 'stalled'
  | 'skipped';

export interface MessageMetadata {
  tenantId?: string;
  correlationId?: string;
  callerId?: string;
  traceparent?: string;
  /** Free string headers, forwarded to the endpoint as HTTP request headers (reserved names refused). */
  headers?: Record<string, string>;
}

/** A message as a producer hands it over, validated, before it is stored. */
export interface NewMessage {
  id: string;
  key: string | null;
  type: string;
  /** The payload as JSON text, stored and forwarded verbatim. */
  data: string;
  metadata: MessageMetadata;
  /** Epoch ms before which the message is not delivered; null for now. */
  deliverAt: number | null;
  /**
   * Plain queues only: among due messages, higher priorities are claimed first (oldest first
   * within one). An integer from MIN_PRIORITY to MAX_PRIORITY. Default 0.
   */
  priority?: number;
  /**
   * Plain queues only: epoch ms after which the message is not attempted again but dead-lettered
   * with reason `expired`. Null (default): the queue's `ttl`, if it has one, counted from when the
   * message is due; otherwise it never expires.
   */
  expiresAt?: number | null;
}

/** A stored message. */
export interface StoredMessage extends NewMessage {
  channel: string;
  priority: number;
  /** When the message expires (its own `expiresAt`, or the queue's `ttl` applied when stored); null: never. */
  expiresAt: number | null;
  createdAt: number;
  /** Topic messages only: strictly increasing in commit order. */
  sequence: number | null;
}

export interface AttemptRecord {
  attempt: number;
  startedAt: number;
  durationMs: number;
  statusCode: number | null;
  error: string | null;
  /** The first bytes of the response body. */
  response: string | null;
  /**
   * The call ran after its lease had been taken over (the instance was too slow or frozen), so
   * its outcome was not applied: another attempt decided the delivery. Absent otherwise.
   */
  fenced?: true;
}

/** Priorities a message may carry (plain queues): higher is claimed first. */
export const MIN_PRIORITY = -100;
export const MAX_PRIORITY = 100;

/** Why a delivery was dead-lettered without (or after its last) attempt: its time to live ran out. */
export const EXPIRED_REASON = 'expired';

/** Terminal statuses: nothing more happens to the delivery without an operator. */
export const FINAL_STATUSES: ReadonlySet<MessageStatus> = new Set(['delivered', 'deadlettered', 'skipped']);

const ID_PATTERN = /^[\x21-\x7e]{1,200}$/;
/**
 * The id alphabet: ids, keys and types are 1-200 printable ASCII characters (U+0021 to U+007E, no
 * space), so they travel safely in headers and, percent-encoded, in URLs. `.` and `..` are refused:
 * URL clients resolve them as path segments (even encoded as `%2E`), so they could not be addressed.
 */
export function isValidIdentifier(value: string): boolean {
  return ID_PATTERN.test(value) && value !== '.' && value !== '..';
}

/** What to tell a producer whose id, key or type is refused. */
export const IDENTIFIER_RULE = "use 1-200 printable ASCII characters without spaces (not '.' or '..')";

const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;
/** Channel, subscription and endpoint names. No `/`: targets are named `topic/subscription`. */
export function isValidName(value: string): boolean {
  return NAME_PATTERN.test(value);
}

/** The largest time a JavaScript Date holds (ECMA-262 §21.4.1.1): no stored time may pass it. */
export const MAX_DATE_MS = 8_640_000_000_000_000;

/** Builds a message for the store's outbox methods from friendlier input: `data` as a value, defaults filled in. */
export function newMessage(input: {
  id?: string; key?: string | null; type: string; data: unknown; metadata?: MessageMetadata; deliverAt?: number | null; priority?: number; expiresAt?: number | null;
}): NewMessage {
  const message: NewMessage = {
    id: input.id ?? globalThis.crypto.randomUUID(),
    key: input.key ?? null,
    type: input.type,
    data: JSON.stringify(input.data),
    metadata: input.metadata ?? {},
    deliverAt: input.deliverAt ?? null,
  };
  if (input.priority !== undefined) message.priority = input.priority;
  if (input.expiresAt !== undefined) message.expiresAt = input.expiresAt;
  return message;
}

/** What any stored id, key or type is: printable ASCII (the API takes 1-200; ids Offload makes itself may be longer). */
const STORED_NAME = /^[\x21-\x7e]{1,1000}$/;
/** Whether a value could be a stored message id (an operator names one to redrive or purge it). */
export function isStoredName(value: string): boolean {
  return STORED_NAME.test(value);
}

/**
 * Why a message, as handed to a store (the outbox, a schedule, a notification; the HTTP API
 * checks more), cannot be stored on this kind of channel, or undefined when it can: an id, a
 * type, a key where one is given, JSON text as data, a key on every message of a fifo queue, no
 * delay on a topic (whose subscriptions deliver in publish order), then `flowFieldProblem`.
 */
export function storableProblem(kind: 'queue' | 'fifo' | 'topic' | 'subscription', m: NewMessage): { field: string; message: string } | undefined {
  const named = (field: 'id' | 'type' | 'key', value: unknown) =>
    typeof value === 'string' && STORED_NAME.test(value) ? undefined : { field, message: `${field} must be printable ASCII characters (U+0021-U+007E), 1 to 1000 of them` };
  const problem = named('id', m.id) ?? named('type', m.type) ?? (m.key === null ? undefined : named('key', m.key));
  if (problem) return problem;
  if (typeof m.data !== 'string') return { field: 'data', message: 'data must be JSON text (newMessage() serializes a value)' };
  const metadata = metadataProblem(m.metadata);
  if (metadata) return metadata;
  if (kind === 'fifo' && m.key === null) return { field: 'key', message: 'a fifo queue needs a key on every message (the aggregate id): its messages are delivered in order per key' };
  if (kind === 'topic' && m.deliverAt != null) return { field: 'deliverAt', message: 'topics deliver in publish order; deliverAt and delay are for queues' };
  return flowFieldProblem(kind, m);
}

/**
 * What the outbox (`sendWithin`) refuses beyond storableProblem, as the HTTP API does: ids, keys
 * and types by the API's rule (1-200 characters, not '.' or '..'), data that is not JSON text or
 * holds a lone surrogate (stored, it would become U+FFFD). The configured maxPayload and maxDepth
 * are not known to a store, so they are not checked here.
 */
const LONE_SURROGATE = /\p{Surrogate}/u;
export function outboxProblem(m: NewMessage): { field: string; message: string } | undefined {
  for (const field of ['id', 'type', 'key'] as const) {
    const value: unknown = m[field];
    if (field === 'key' && value === null) continue;
    if (typeof value !== 'string' || !isValidIdentifier(value)) return { field, message: `${field}: ${IDENTIFIER_RULE}` };
  }
  if (typeof m.data === 'string') {
    if (LONE_SURROGATE.test(m.data)) return { field: 'data', message: 'data holds a lone surrogate (not valid Unicode): it would be stored as U+FFFD' };
    try {
      JSON.parse(m.data);
    } catch {
      return { field: 'data', message: 'data must be JSON text (newMessage() serializes a value)' };
    }
  }
  return undefined;
}

const TRACEPARENT = /^[\da-f]{2}-[\da-f]{32}-[\da-f]{16}-[\da-f]{2}$/;
/** What a traceparent must look like. */
export const TRACEPARENT_RULE = 'a W3C traceparent: 00-<32 hex>-<16 hex>-<2 hex>, not version ff, no all-zero trace or parent id';
/** A W3C Trace Context traceparent: version ff and all-zero trace or parent ids are invalid. */
export function isValidTraceparent(value: string): boolean {
  return TRACEPARENT.test(value) && !value.startsWith('ff-') && !/^..-0{32}-/.test(value) && !/-0{16}-..$/.test(value);
}

const METADATA_STRINGS = new Set(['tenantId', 'correlationId', 'callerId', 'traceparent']);

/**
 * Why a message's metadata cannot be stored, or undefined when it can: the fields the API takes
 * (strings of at most 200 characters, a valid traceparent) and headers a message may set (names,
 * values, reserved names and limits as in headers.ts). The endpoint's own configured headers are
 * not known here; at delivery they replace a message's header of the same name.
 */
function metadataProblem(metadata: unknown): { field: string; message: string } | undefined {
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) return { field: 'metadata', message: 'metadata must be an object' };
  for (const [name, value] of Object.entries(metadata)) {
    // An optional field left undefined (`{ tenantId: user.tenantId }`) is absent: JSON drops it.
    if (name === 'headers' || value === undefined) continue;
    if (!METADATA_STRINGS.has(name)) return { field: `metadata.${name}`, message: 'metadata holds tenantId, correlationId, callerId, traceparent and headers' };
    if (typeof value !== 'string' || value.length > 200) return { field: `metadata.${name}`, message: `metadata.${name} must be a string of at most 200 characters` };
  }
  const { traceparent, headers } = metadata as MessageMetadata;
  if (traceparent !== undefined && !isValidTraceparent(traceparent)) return { field: 'metadata.traceparent', message: `metadata.traceparent must be ${TRACEPARENT_RULE}` };
  if (headers === undefined) return undefined;
  if (typeof headers !== 'object' || headers === null || Array.isArray(headers) || Object.values(headers).some((v) => typeof v !== 'string' && v !== undefined)) {
    return { field: 'metadata.headers', message: 'metadata.headers must be an object of string values' };
  }
  if (Object.prototype.hasOwnProperty.call(headers, '__proto__')) return { field: 'metadata.headers.__proto__', message: "'__proto__' is not a header name a message can set" };
  const present = Object.fromEntries(Object.entries(headers).filter(([, v]) => v !== undefined)) as Record<string, string>;
  const [issue] = messageHeaderIssues(present, new Set());
  return issue ? { field: issue.name ? `metadata.headers.${issue.name}` : 'metadata.headers', message: issue.message } : undefined;
}

/**
 * Why a message cannot carry its priority or expiry on this kind of channel, or undefined when it
 * can. Fifo queues and topics promise order: a priority or an expiry would let a message overtake
 * or vanish from the sequence, so they are plain-queue features.
 */
export function flowFieldProblem(kind: 'queue' | 'fifo' | 'topic' | 'subscription', m: Pick<NewMessage, 'priority' | 'expiresAt' | 'deliverAt'>): { field: 'priority' | 'expiresAt' | 'deliverAt'; message: string } | undefined {
  const priority = m.priority ?? 0;
  if (!Number.isInteger(priority) || priority < MIN_PRIORITY || priority > MAX_PRIORITY) {
    return { field: 'priority', message: `priority must be an integer from ${MIN_PRIORITY} to ${MAX_PRIORITY} (higher is delivered first)` };
  }
  // A time no Date holds could be stored (SQLite) but never shown, or not stored at all (a bigint).
  const isTime = (ms: number) => Number.isSafeInteger(ms) && Math.abs(ms) <= MAX_DATE_MS;
  if (m.expiresAt != null && !isTime(m.expiresAt)) return { field: 'expiresAt', message: `expiresAt must be a time in epoch milliseconds, at most ${MAX_DATE_MS}` };
  if (m.deliverAt != null && !isTime(m.deliverAt)) return { field: 'deliverAt', message: `deliverAt must be a time in epoch milliseconds, at most ${MAX_DATE_MS}` };
  if (kind === 'queue') return undefined;
  const what = kind === 'fifo' ? 'a fifo queue delivers each key in order' : 'a topic delivers in publish order';
  if (priority !== 0) return { field: 'priority', message: `priority is for plain queues: ${what}, so no message may overtake another` };
  if (m.expiresAt != null) return { field: 'expiresAt', message: `expiry is for plain queues: ${what}, so no message may drop out of the sequence` };
  return undefined;
}
