import type { FaultReceiver } from '../src/testing/index.js';
import { sleep } from './timing.js';

export interface DrainResult {
  /** Every expected id was acknowledged at its target. */
  readonly complete: boolean;
  readonly tookMs: number;
  /** Per target, how many were still missing at the end. */
  readonly missing: ReadonlyMap<string, number>;
}

/**
 * Waits until every accepted message is acknowledged at each target that expects it, then for
 * the receiver to have nothing in flight, so the history handed to the checker is final.
 * Polls the shrinking set of missing ids, which stays cheap however long the history is.
 */
export async function drain(
  receiver: FaultReceiver,
  expected: Map<string, Set<string>>,
  options: { timeoutMs: number; progressEveryMs: number; log: (line: string) => void },
): Promise<DrainResult> {
  const started = Date.now();
  const deadline = started + options.timeoutMs;
  let nextProgress = started + options.progressEveryMs;
  for (;;) {
    const missing = shrink(receiver, expected);
    const total = [...missing.values()].reduce((a, b) => a + b, 0);
    if (total === 0) break;
    if (Date.now() > deadline) return { complete: false, tookMs: Date.now() - started, missing };
    if (Date.now() >= nextProgress) {
      nextProgress += options.progressEveryMs;
      options.log(`.. draining: ${[...missing].map(([t, n]) => `${t} ${n}`).join(', ')} still unacknowledged`);
    }
    await sleep(250);
  }
  const settleDeadline = Date.now() + 5_000;
  while (receiver.inFlight().length > 0 && Date.now() < settleDeadline) await sleep(50);
  return { complete: true, tookMs: Date.now() - started, missing: new Map() };
}

function shrink(receiver: FaultReceiver, expected: Map<string, Set<string>>): Map<string, number> {
  const missing = new Map<string, number>();
  for (const [target, ids] of expected) {
    const acked = receiver.acceptCounts(target);
    for (const id of ids) if (acked.has(id)) ids.delete(id);
    missing.set(target, ids.size);
  }
  return missing;
}
