import type { FaultReceiver } from '../src/testing/index.js';
import type { Cluster } from './cluster.js';
import type { Crasher } from './crasher.js';
import { describeCounts, type Ledger } from './ledger.js';
import type { Operator } from './operator.js';
import { TARGETS } from './workloads.js';

export interface ProgressSources {
  readonly ledger: Ledger;
  readonly receiver: FaultReceiver;
  readonly cluster: Cluster;
  readonly crasher: () => Crasher | undefined;
  readonly operator: () => Operator | undefined;
  readonly alerts: ReadonlyMap<string, number>;
  readonly instances: number;
}

/** One line every few seconds, so a long run shows it is alive and where it stands. */
export function startProgress(sources: ProgressSources, everyMs: number, log: (line: string) => void): () => void {
  const started = Date.now();
  const timer = setInterval(() => log(progressLine(sources, Date.now() - started)), everyMs);
  return () => clearInterval(timer);
}

export function progressLine(s: ProgressSources, elapsedMs: number): string {
  const acked = TARGETS.map((t) => `${t.target} ${s.receiver.acceptCounts(t.target).size}`).join(', ');
  const crasher = s.crasher();
  const operator = s.operator()?.counts();
  const parts = [
    `[${String(Math.round(elapsedMs / 1_000)).padStart(4)}s] accepted ${describeCounts(s.ledger.counts())}`,
    `acknowledged ${acked}`,
    `in flight ${s.receiver.inFlight().length}`,
    `kills ${crasher?.kills() ?? 0}${crasher && crasher.pgRestarts() > 0 ? `, pg restarts ${crasher.pgRestarts()}` : ''}, live ${s.cluster.liveCount()}/${s.instances}`,
    `send retries ${s.ledger.retries()}`,
  ];
  if (operator) parts.push(`operator: ${operator.parkedRetries} parked retried, ${operator.redriven} redriven, ${operator.stalledRetries} stalled retried`);
  if (s.alerts.size > 0) parts.push(`alerts ${[...s.alerts].map(([a, n]) => `${a} ${n}`).join(', ')}`);
  return parts.join(' | ');
}
