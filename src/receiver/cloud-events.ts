/**
 * CloudEvents 1.0 structured mode, single (`application/cloudevents+json`) and batch
 * (`application/cloudevents-batch+json`, an array in order). Plain `application/json` is read the
 * same way, so a hand-written test request need not set the CloudEvents media type.
 */

/** One event as Offload delivers it; `data` is typed by the handler's schema, when it has one. */
export interface ReceivedEvent<Data = unknown> {
  specversion: '1.0';
  id: string;
  source: string;
  type: string;
  time?: string;
  datacontenttype?: string;
  /** The message key (aggregate id, partition key), when it has one. */
  subject?: string;
  partitionkey?: string;
  /** Topic events: strictly increasing in publish order. */
  sequence?: number;
  /** 1 on the first attempt. */
  deliveryattempt?: number;
  tenantid?: string;
  correlationid?: string;
  callerid?: string;
  /** Ordered targets: the lane (the key, or `''` for a topic-ordered subscription's one lane). */
  lane?: string;
  /** Ordered targets: this message is the lane's n-th delivered (gap-free; a repeat keeps its number). */
  laneposition?: number;
  /** Ordered targets: id of the lane's message delivered before this one; absent for the first. */
  laneprevious?: string;
  data: Data;
  /** Any other extension attribute. */
  [extension: string]: unknown;
}

export type ParsedBody = { batch: boolean; events: ReceivedEvent[] } | { error: string; status: 400 | 415 };

const SINGLE = 'application/cloudevents+json';
const BATCH = 'application/cloudevents-batch+json';

export function parseCloudEvents(contentType: string | undefined, text: string, maxBatch: number): ParsedBody {
  const mediaType = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (mediaType !== SINGLE && mediaType !== BATCH && mediaType !== 'application/json') {
    return { status: 415, error: `content-type ${mediaType || '(none)'} is not a CloudEvents structured event; expected ${SINGLE} or ${BATCH}` };
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { status: 400, error: 'body is not valid JSON' };
  }
  const batch = Array.isArray(json);
  if (mediaType === BATCH && !batch) return { status: 400, error: `a ${BATCH} body is a JSON array of events` };
  if (mediaType === SINGLE && batch) return { status: 400, error: `a ${SINGLE} body is one event object; a batch is sent as ${BATCH}` };
  const items: unknown[] = batch ? (json as unknown[]) : [json];
  if (items.length === 0) return { status: 400, error: 'empty batch' };
  if (items.length > maxBatch) return { status: 400, error: `batch of ${items.length} events is over the receiver's limit of ${maxBatch}` };
  const events: ReceivedEvent[] = [];
  for (const [index, item] of items.entries()) {
    const problem = eventProblem(item);
    if (problem !== undefined) return { status: 400, error: batch ? `event ${index}: ${problem}` : problem };
    events.push(item as ReceivedEvent);
  }
  return { batch, events };
}

function eventProblem(item: unknown): string | undefined {
  if (typeof item !== 'object' || item === null || Array.isArray(item)) return 'an event is a JSON object';
  const fields = item as Record<string, unknown>;
  if (fields.specversion !== '1.0') return 'specversion must be "1.0"';
  for (const name of ['id', 'source', 'type'] as const) {
    if (typeof fields[name] !== 'string' || fields[name] === '') return `${name} must be a non-empty string`;
  }
  return undefined;
}
