/**
 * What an endpoint behind Offload sees: one POST per delivery, a CloudEvents body (one event,
 * or an array for a batched subscription) and an `Idempotency-Key` that stays the same across
 * retries and redrives. The example receiver's handlers are written against these few types.
 */

export interface CloudEvent {
  id: string;
  type: string;
  /** The message key (aggregate id, partition key), when it has one. */
  subject?: string;
  /** Topic events: strictly increasing in publish order. */
  sequence?: number;
  /** 1 on the first attempt. */
  deliveryattempt?: number;
  /** When the message was accepted (ISO 8601). */
  time?: string;
  data: unknown;
}

export interface DeliveryRequest {
  path: string;
  idempotencyKey: string;
  events: CloudEvent[];
}

export interface Reply {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

export type Handler = (request: DeliveryRequest) => Reply | Promise<Reply>;

/** One human line per call, e.g. `✓ email to ada@example.com (attempt 2)`. */
export type LineLog = (line: string) => void;

export const ok = (body: unknown = { ok: true }): Reply => ({ status: 200, body });

/** A failure the caller should not retry (Offload dead-letters or parks it at once). */
export const rejected = (status: number, detail: string): Reply => ({ status, body: { detail } });

/** A transient failure; with `retryAfterSeconds` Offload waits at least that long. */
export function unavailable(status: 500 | 503, detail: string, retryAfterSeconds?: number): Reply {
  const headers = retryAfterSeconds === undefined ? undefined : { 'retry-after': String(retryAfterSeconds) };
  return { status, body: { detail }, ...(headers ? { headers } : {}) };
}

/** Parses a delivery body; returns a message saying what is wrong instead of throwing. */
export function parseEvents(text: string): CloudEvent[] | string {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return 'body is not JSON';
  }
  const items = Array.isArray(json) ? json : [json];
  const events: CloudEvent[] = [];
  for (const item of items) {
    if (!isEvent(item)) return 'expected a CloudEvent (or an array of them) with string id and type';
    events.push(item);
  }
  return events.length > 0 ? events : 'empty batch';
}

function isEvent(item: unknown): item is CloudEvent {
  if (typeof item !== 'object' || item === null) return false;
  const fields = item as Record<string, unknown>;
  return typeof fields.id === 'string' && typeof fields.type === 'string';
}

/** ` (attempt 3)` after a retry, nothing on a first attempt: keeps the happy path short. */
export function attemptNote(event: CloudEvent): string {
  return event.deliveryattempt !== undefined && event.deliveryattempt > 1 ? ` (attempt ${event.deliveryattempt})` : '';
}

/** True when the message was accepted before `instant`, e.g. left over from an earlier run. */
export function acceptedBefore(event: CloudEvent, instant: number): boolean {
  const time = event.time === undefined ? Number.NaN : Date.parse(event.time);
  return Number.isFinite(time) && time < instant;
}

/** Reads a string field of an event's data, or undefined. */
export function field(event: CloudEvent, name: string): string | undefined {
  const data = event.data;
  if (typeof data !== 'object' || data === null) return undefined;
  const value = (data as Record<string, unknown>)[name];
  return typeof value === 'string' ? value : typeof value === 'number' ? String(value) : undefined;
}

/**
 * Counts calls in flight per key. Ordered channels promise at most one call per key (or per
 * subscription) at a time; `enter` returns false when that promise was broken.
 */
export function createInFlightTracker(): { enter(key: string): boolean; leave(key: string): void } {
  const inFlight = new Map<string, number>();
  return {
    enter(key) {
      const count = inFlight.get(key) ?? 0;
      inFlight.set(key, count + 1);
      return count === 0;
    },
    leave(key) {
      const count = (inFlight.get(key) ?? 1) - 1;
      if (count <= 0) inFlight.delete(key);
      else inFlight.set(key, count);
    },
  };
}

/** Simulated work, so that two overlapping calls would actually overlap. */
export function work(random: () => number, minMs: number, maxMs: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, minMs + Math.round(random() * (maxMs - minMs))));
}
