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

/** A batch is a JSON array of structured events, in order. */
export function renderCloudEventBatch(items: ReadonlyArray<{ message: StoredMessage; attempt: number; lanePosition?: LanePosition }>): string {
  return `[${items.map((i) => renderCloudEvent(i.message, i.attempt, i.lanePosition)).join(',')}]`;
}
