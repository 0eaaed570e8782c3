import type { StoredMessage } from '../domain/message.js';
import type { LanePosition } from '../storage/port.js';

export const CLOUDEVENT_CONTENT_TYPE = 'application/cloudevents+json';
export const CLOUDEVENT_BATCH_CONTENT_TYPE = 'application/cloudevents-batch+json';

/**
 * Renders a message as a CloudEvents 1.0 structured JSON event. The payload is spliced in as the
 * stored JSON text, never parsed and re-serialized, so what the producer sent is what arrives.
 */
export function renderCloudEvent(message: StoredMessage, attempt: number, lane?: LanePosition): string {
  let out = `{"specversion":"1.0","id":${JSON.stringify(message.id)},"source":${JSON.stringify(`/offload/${message.channel}`)}`;
  out += `,"type":${JSON.stringify(message.type)},"time":"${new Date(message.createdAt).toISOString()}","datacontenttype":"application/json"`;
  if (message.key !== null) out += `,"subject":${JSON.stringify(message.key)},"partitionkey":${JSON.stringify(message.key)}`;
  if (message.sequence !== null) out += `,"sequence":${message.sequence}`;
  out += `,"deliveryattempt":${attempt}`;
  if (lane !== undefined) {
    out += `,"lane":${JSON.stringify(lane.lane)},"laneposition":${lane.position}`;
    if (lane.previousId !== null) out += `,"laneprevious":${JSON.stringify(lane.previousId)}`;
  }
  if (message.metadata.tenantId !== undefined) out += `,"tenantid":${JSON.stringify(message.metadata.tenantId)}`;
  if (message.metadata.correlationId !== undefined) out += `,"correlationid":${JSON.stringify(message.metadata.correlationId)}`;
  if (message.metadata.callerId !== undefined) out += `,"callerid":${JSON.stringify(message.metadata.callerId)}`;
  return `${out},"data":${message.data}}`;
}

type BatchItem = { message: StoredMessage; attempt: number; lanePosition?: LanePosition };

/** A batch is a JSON array of structured events, in order. */
export function renderCloudEventBatch(items: ReadonlyArray<BatchItem>): string {
  return renderCloudEventBatchWithin(items, Number.POSITIVE_INFINITY).body;
}

/**
 * A batch of the events from the head that fit in `maxBytes` of UTF-8 (the first always goes),
 * and how many that is: a backlog of large events must not make a body the endpoint refuses for
 * its size on every try.
 */
export function renderCloudEventBatchWithin(items: ReadonlyArray<BatchItem>, maxBytes: number): { body: string; count: number } {
  const parts: string[] = [];
  let bytes = 2;
  for (const item of items) {
    const part = renderCloudEvent(item.message, item.attempt, item.lanePosition);
    const size = Buffer.byteLength(part) + (parts.length > 0 ? 1 : 0);
    if (parts.length > 0 && bytes + size > maxBytes) break;
    parts.push(part);
    bytes += size;
  }
  return { body: `[${parts.join(',')}]`, count: parts.length };
}
