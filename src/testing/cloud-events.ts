/** One event as a receiver saw it in a delivery request. */
export interface ReceivedEvent {
  /** The message id (CloudEvents `id`). */
  readonly id: string;
  /** The ordering key: `partitionkey`, else `subject`. */
  readonly key?: string;
  readonly subject?: string;
  readonly partitionKey?: string;
  /** Topic messages only (`sequence` extension). */
  readonly sequence?: number;
  /** `deliveryattempt` extension: 1 for the first attempt. */
  readonly attempt?: number;
  readonly type?: string;
  readonly source?: string;
  readonly data?: unknown;
}

export interface ParsedBody {
  readonly events: readonly ReceivedEvent[];
  /** Why the body could not be read as CloudEvents, if it could not. */
  readonly parseError?: string;
}

export const CLOUD_EVENT_TYPE = 'application/cloudevents+json';
export const CLOUD_EVENT_BATCH_TYPE = 'application/cloudevents-batch+json';

/**
 * Reads a delivery body leniently: a receiver used in tests must record what it was sent
 * even when the sender gets the format wrong, so a bad body becomes a `parseError` (with the
 * `Idempotency-Key` standing in for the id) rather than an exception.
 */
export function parseDeliveryBody(contentType: string | undefined, body: string, idempotencyKey?: string): ParsedBody {
  const fallback: ReceivedEvent[] = idempotencyKey ? [{ id: idempotencyKey }] : [];
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return { events: fallback, parseError: `body is not JSON (content-type ${contentType ?? 'none'})` };
  }
  const items = Array.isArray(json) ? json : [json];
  const events: ReceivedEvent[] = [];
  for (const item of items) {
    const event = toEvent(item);
    if (!event) return { events: fallback, parseError: 'an event has no string `id`' };
    events.push(event);
  }
  return { events };
}

function toEvent(item: unknown): ReceivedEvent | undefined {
  if (typeof item !== 'object' || item === null) return undefined;
  const fields = item as Record<string, unknown>;
  if (typeof fields.id !== 'string') return undefined;
  const subject = stringOrUndefined(fields.subject);
  const partitionKey = stringOrUndefined(fields.partitionkey);
  return {
    id: fields.id,
    key: partitionKey ?? subject,
    subject,
    partitionKey,
    sequence: integerOrUndefined(fields.sequence),
    attempt: integerOrUndefined(fields.deliveryattempt),
    type: stringOrUndefined(fields.type),
    source: stringOrUndefined(fields.source),
    data: fields.data,
  };
}

function stringOrUndefined(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

// CloudEvents JSON may carry integer extensions as strings; accept both.
function integerOrUndefined(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value === 'string' && /^-?\d+$/.test(value)) return Number(value);
  return undefined;
}
