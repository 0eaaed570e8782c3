import type { Arrival } from './receiver-state.js';

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A peer posts the bench message itself; Offload wraps it as a CloudEvent's `data`. */
function unwrap(value: unknown): Record<string, unknown> | undefined {
  if (!isRecord(value)) return undefined;
  if ('specversion' in value && isRecord(value.data)) return value.data;
  return value;
}

function toArrival(value: unknown): Arrival | undefined {
  const body = unwrap(value);
  if (!body) return undefined;
  const { id, seq, key, sentAt } = body;
  if (typeof id !== 'string' || typeof seq !== 'number' || typeof sentAt !== 'number') return undefined;
  return { id, seq, sentAt, key: typeof key === 'string' ? key : '' };
}

/**
 * Reads a delivery body: one message, one CloudEvent, or a batch array of either.
 * Returns undefined when anything in it is not a bench message.
 */
export function parseDelivery(raw: string): Arrival[] | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return undefined;
  }
  const items = Array.isArray(parsed) ? parsed : [parsed];
  const arrivals = items.map(toArrival);
  if (arrivals.length === 0 || arrivals.some((a) => a === undefined)) return undefined;
  return arrivals as Arrival[];
}
