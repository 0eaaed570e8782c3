import type { BenchSystem } from '../systems/bench-system.js';
import { nowMs, sleep } from './clock.js';
import { makeMessage, planBatches, planEntries, type MessagePlan } from './messages.js';

/** One awaited `send` per message, from `producers` concurrent loops sharing the plan. */
export async function produceSingly(system: BenchSystem, plan: MessagePlan, producers: number): Promise<number> {
  const entries = planEntries(plan);
  const started = nowMs();
  const loop = async (): Promise<void> => {
    // A shared generator hands each loop the next entry; loops end when it is exhausted.
    for (let next = entries.next(); !next.done; next = entries.next()) {
      const { id, seq, key } = next.value;
      await system.send(makeMessage(id, seq, key));
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, producers) }, loop));
  return nowMs() - started;
}

/** The system's batch API, batches awaited one after another. */
export async function produceBatches(system: BenchSystem, plan: MessagePlan, batchSize: number): Promise<number> {
  const started = nowMs();
  for (const batch of planBatches(plan, batchSize)) {
    await system.sendBatch(batch.map(({ id, seq, key }) => makeMessage(id, seq, key)));
  }
  return nowMs() - started;
}

export interface OpenLoopResult {
  sent: number;
  failed: number;
  peakOutstanding: number;
  firstError?: string;
}

const TICK_MS = 5;

/**
 * Open-loop load: sends start on schedule whether or not earlier sends have finished,
 * as independent API requests would. Stops early if more than `maxOutstanding` sends
 * are pending, because the schedule can no longer be honoured.
 */
export async function openLoop(
  system: BenchSystem,
  args: { prefix: string; ratePerSec: number; durationMs: number; maxOutstanding: number },
): Promise<OpenLoopResult> {
  const result: OpenLoopResult = { sent: 0, failed: 0, peakOutstanding: 0 };
  const total = Math.round((args.ratePerSec * args.durationMs) / 1000);
  const pending = new Set<Promise<void>>();
  const started = nowMs();
  while (result.sent < total && pending.size <= args.maxOutstanding) {
    const due = Math.min(total, Math.floor(((nowMs() - started) * args.ratePerSec) / 1000) + 1);
    for (; result.sent < due; result.sent += 1) {
      const seq = result.sent + 1;
      const send: Promise<void> = system
        .send(makeMessage(`${args.prefix}-${seq}`, seq))
        .catch((error: unknown) => {
          result.failed += 1;
          result.firstError ??= String(error);
        })
        .finally(() => pending.delete(send));
      pending.add(send);
    }
    result.peakOutstanding = Math.max(result.peakOutstanding, pending.size);
    await sleep(TICK_MS);
  }
  await Promise.all(pending);
  if (result.sent < total) result.failed += total - result.sent;
  return result;
}
