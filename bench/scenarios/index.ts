import type { BenchCase, Sizes } from './types.js';
import { enqueueCase } from './enqueue.js';
import { drainCase } from './drain.js';
import { latencyCase } from './latency.js';
import { fifoCase } from './fifo.js';
import { fanoutCase } from './fanout.js';

export const SCENARIOS = ['enqueue', 'drain', 'latency', 'fifo', 'fanout'] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

export const FULL_SIZES: Sizes = {
  enqueueSingle: 5_000,
  enqueueProducers: 16,
  enqueueBatch: 20_000,
  batchSize: 100,
  drain: 20_000,
  drainConcurrency: [32, 64],
  latencyRatePerSec: 500,
  latencySeconds: 10,
  latencyWarmupSeconds: 2,
  latencyConcurrency: 32,
  fifoKeys: 1_000,
  fifoPerKey: 20,
  fifoConcurrency: 64,
  fanoutPublishes: 5_000,
  fanoutSubscriptions: 3,
};

/** Small enough to finish within two minutes even on a busy 2-core machine. */
export const QUICK_SIZES: Sizes = {
  ...FULL_SIZES,
  enqueueSingle: 500,
  enqueueBatch: 2_000,
  drain: 5_000,
  latencySeconds: 3,
  latencyWarmupSeconds: 1,
  fifoKeys: 200,
  fifoPerKey: 10,
  fanoutPublishes: 500,
};

export function casesFor(scenarios: readonly ScenarioName[], sizes: Sizes): BenchCase[] {
  const byScenario: Record<ScenarioName, BenchCase[]> = {
    enqueue: [enqueueCase],
    drain: sizes.drainConcurrency.map(drainCase),
    latency: [latencyCase],
    fifo: [fifoCase],
    fanout: [fanoutCase],
  };
  return SCENARIOS.filter((s) => scenarios.includes(s)).flatMap((s) => byScenario[s]);
}

export type { BenchCase, Sizes } from './types.js';
