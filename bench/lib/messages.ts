import type { BenchMessage } from '../systems/bench-system.js';
import { nowMs } from './clock.js';

const TARGET_BODY_BYTES = 300;

/** Builds a message whose JSON is about 300 bytes, stamped with the current time. */
export function makeMessage(id: string, seq: number, key?: string): BenchMessage {
  const sentAt = nowMs();
  const base = key === undefined ? { id, seq, sentAt, pad: '' } : { id, seq, key, sentAt, pad: '' };
  const padLength = Math.max(0, TARGET_BODY_BYTES - JSON.stringify(base).length);
  return { ...base, pad: 'x'.repeat(padLength) };
}

/** A plan the host turns into messages lazily, so that `sentAt` is the real send time. */
export type MessagePlan =
  | { readonly kind: 'plain'; readonly prefix: string; readonly count: number }
  | { readonly kind: 'keyed'; readonly prefix: string; readonly keys: number; readonly perKey: number };

export function planSize(plan: MessagePlan): number {
  return plan.kind === 'plain' ? plan.count : plan.keys * plan.perKey;
}

export function keyName(index: number): string {
  return `k${index}`;
}

/**
 * The message specs of a plan, in send order. Keyed plans go round by round (seq 1
 * of every key, then seq 2, ...), the way interleaved aggregates produce work.
 */
export function* planEntries(plan: MessagePlan): Generator<{ id: string; seq: number; key?: string }> {
  if (plan.kind === 'plain') {
    for (let i = 1; i <= plan.count; i += 1) yield { id: `${plan.prefix}-${i}`, seq: i };
    return;
  }
  for (let seq = 1; seq <= plan.perKey; seq += 1) {
    for (let k = 0; k < plan.keys; k += 1) {
      const key = keyName(k);
      yield { id: `${plan.prefix}-${key}-${seq}`, seq, key };
    }
  }
}

/**
 * Groups plan entries into batches of at most `size`. A keyed plan's batch never spans
 * two rounds, so it never holds two messages of one key: systems that stamp a whole
 * batch with one timestamp would otherwise be free to reorder them.
 */
export function* planBatches(
  plan: MessagePlan,
  size: number,
): Generator<Array<{ id: string; seq: number; key?: string }>> {
  let batch: Array<{ id: string; seq: number; key?: string }> = [];
  let round = 1;
  for (const entry of planEntries(plan)) {
    const roundChanged = plan.kind === 'keyed' && entry.seq !== round;
    if (batch.length >= size || (roundChanged && batch.length > 0)) {
      yield batch;
      batch = [];
    }
    round = entry.seq;
    batch.push(entry);
  }
  if (batch.length > 0) yield batch;
}
