import type { ChannelSpec } from '../systems/bench-system.js';
import type { HostHandle } from '../lib/child-processes.js';
import type { ReceiverClient, WaitLimits } from '../lib/receiver-client.js';

/** Message counts and rates of a run; `--quick` swaps in smaller ones. */
export interface Sizes {
  readonly enqueueSingle: number;
  readonly enqueueProducers: number;
  readonly enqueueBatch: number;
  readonly batchSize: number;
  readonly drain: number;
  readonly drainConcurrency: readonly number[];
  readonly latencyRatePerSec: number;
  readonly latencySeconds: number;
  /** Sends at the latency case's rate before it measures, not counted: a process's first second runs cold code and opens its connections. */
  readonly latencyWarmupSeconds: number;
  readonly latencyConcurrency: number;
  readonly fifoKeys: number;
  readonly fifoPerKey: number;
  readonly fifoConcurrency: number;
  readonly fanoutPublishes: number;
  readonly fanoutSubscriptions: number;
}

export interface CaseContext {
  readonly host: HostHandle;
  readonly receiver: ReceiverClient;
  /** Run tag the receiver was reset with; every message id starts with `${tag}-`. */
  readonly tag: string;
  readonly sizes: Sizes;
  readonly limits: WaitLimits;
  readonly opTimeoutMs: number;
}

export interface MeasureInfo {
  readonly name: string;
  readonly unit: 'msg/s' | 'events/s' | 'ms' | 'count';
  readonly better: 'higher' | 'lower';
  readonly label: string;
}

export interface CaseOutcome {
  readonly measures: Readonly<Record<string, number>>;
  /** Correctness failures; any one marks the case failed and its figures unreported. */
  readonly failures: readonly string[];
}

/** One measured unit of work, run in a fresh host process per system and run. */
export interface BenchCase {
  readonly scenario: string;
  readonly name: string;
  readonly measures: readonly MeasureInfo[];
  channel(sizes: Sizes): ChannelSpec;
  run(ctx: CaseContext): Promise<CaseOutcome>;
}
