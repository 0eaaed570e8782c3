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
}

/** A stored message. */
export interface StoredMessage extends NewMessage {
  channel: string;
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

/** Builds a message for the store's outbox methods from friendlier input: `data` as a value, defaults filled in. */
export function newMessage(input: { id?: string; key?: string | null; type: string; data: unknown; metadata?: MessageMetadata; deliverAt?: number | null }): NewMessage {
  return {
    id: input.id ?? globalThis.crypto.randomUUID(),
    key: input.key ?? null,
    type: input.type,
    data: JSON.stringify(input.data),
    metadata: input.metadata ?? {},
    deliverAt: input.deliverAt ?? null,
  };
}
