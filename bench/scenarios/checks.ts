import type { ReceiverSnapshot } from '../lib/receiver-state.js';
import { streamOf } from '../lib/receiver-client.js';

export interface DeliveryRules {
  /** Per lane, every seq must follow the previous one (fifo keys, topic subscriptions). */
  readonly ordered: boolean;
  /** Per lane, a delivery may not begin before the previous one was answered. */
  readonly serial: boolean;
}

/** What is wrong with one stream's deliveries: missing, duplicate, foreign, out of order, overlapping. */
export function checkStream(
  snapshot: ReceiverSnapshot,
  stream: string,
  expected: number,
  rules: DeliveryRules,
): string[] {
  const s = streamOf(snapshot, stream);
  const failures: string[] = [];
  if (s.unique < expected) failures.push(`${stream}: ${expected - s.unique} of ${expected} never delivered`);
  if (s.unique > expected) failures.push(`${stream}: ${s.unique - expected} unexpected ids`);
  if (s.duplicates > 0) failures.push(`${stream}: ${s.duplicates} duplicate deliveries`);
  if (s.foreign > 0) failures.push(`${stream}: ${s.foreign} deliveries from another run`);
  if (rules.ordered && s.orderViolations > 0) failures.push(`${stream}: ${s.orderViolations} order violations`);
  if (rules.serial && s.overlaps > 0) failures.push(`${stream}: ${s.overlaps} same-key overlaps`);
  return failures;
}

export function checkReceiver(snapshot: ReceiverSnapshot): string[] {
  return snapshot.malformed > 0 ? [`${snapshot.malformed} malformed deliveries`] : [];
}

/** Messages per second from the start of delivery to the last arrival. */
export function ratePerSec(count: number, startedAt: number, lastAt: number): number {
  const elapsed = lastAt - startedAt;
  return elapsed > 0 ? (count * 1000) / elapsed : Number.NaN;
}
