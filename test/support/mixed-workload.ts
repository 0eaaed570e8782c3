import type { FaultReceiver, TargetExpectation } from '../../src/testing/index.js';

/**
 * The mixed workload the many-instance tests send: a queue (`/audits`), a fifo queue (`/fifo`)
 * and a topic's topic-ordered (`/projector`) and key-ordered (`/billing`) subscriptions.
 */
const MIXED: Record<string, TargetExpectation> = {
  '/audits': { target: '/audits', channel: 'audits' },
  '/fifo': { target: '/fifo', channel: 'provisionings', ordering: 'key' },
  '/projector': { target: '/projector', channel: 'events', ordering: 'topic' },
  '/billing': { target: '/billing', channel: 'events', ordering: 'key' },
};

/** What the history checker expects of each path in `counts`. */
export function mixedTargets(counts: Record<string, number>): TargetExpectation[] {
  return Object.keys(counts).map((path) => MIXED[path]!);
}

/** Waits until each path has accepted its count of distinct messages. */
export function allDelivered(receiver: FaultReceiver, counts: Record<string, number>, timeoutMs: number, description: string): Promise<void> {
  return receiver.waitFor((r) => Object.entries(counts).every(([path, n]) => r.acceptCounts(path).size === n), { timeoutMs, description });
}
