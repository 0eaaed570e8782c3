import type { AcceptedMessage } from '../src/testing/index.js';
import { CHANNEL_OF, TARGETS, WORKLOADS, type Workload } from './workloads.js';

/**
 * What producers were told: only messages whose send was answered count as accepted. Sends
 * that were never answered are remembered separately, because Offload may still have stored
 * (and delivered) them: their deliveries are then not "unexpected".
 */
export interface Ledger {
  accept(workload: Workload, message: AcceptedMessage): void;
  /** Ids whose send was attempted and never answered. */
  unanswered(workload: Workload, ids: readonly string[]): void;
  retried(reason: string): void;
  /** Something in an answer that breaks the API contract (e.g. a topic send without a sequence). */
  anomaly(text: string): void;
  accepted(): readonly AcceptedMessage[];
  counts(): Readonly<Record<Workload, number>>;
  unansweredIds(): ReadonlySet<string>;
  retries(): number;
  retryReasons(): ReadonlyMap<string, number>;
  anomalies(): readonly string[];
  /** Per receiver target, the ids it must acknowledge. */
  expectedByTarget(): Map<string, Set<string>>;
}

export function createLedger(): Ledger {
  const accepted: AcceptedMessage[] = [];
  const counts: Record<Workload, number> = { queue: 0, fifo: 0, topic: 0 };
  const unanswered = new Set<string>();
  const reasons = new Map<string, number>();
  const anomalies: string[] = [];
  let retries = 0;
  return {
    accept(workload, message) {
      accepted.push(message);
      counts[workload]++;
    },
    unanswered(_workload, ids) {
      for (const id of ids) unanswered.add(id);
    },
    retried(reason) {
      retries++;
      reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
    },
    anomaly(text) {
      if (anomalies.length < 100) anomalies.push(text);
    },
    accepted: () => accepted,
    counts: () => ({ ...counts }),
    unansweredIds: () => unanswered,
    retries: () => retries,
    retryReasons: () => reasons,
    anomalies: () => anomalies,
    expectedByTarget() {
      const byChannel = new Map<string, string[]>();
      for (const m of accepted) {
        const list = byChannel.get(m.channel);
        if (list) list.push(m.id);
        else byChannel.set(m.channel, [m.id]);
      }
      return new Map(TARGETS.map((t) => [t.target, new Set(byChannel.get(t.channel) ?? [])]));
    },
  };
}

export function describeCounts(counts: Readonly<Record<Workload, number>>): string {
  return WORKLOADS.map((w) => `${CHANNEL_OF[w]} ${counts[w]}`).join(', ');
}
