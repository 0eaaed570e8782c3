import type { BenchSystemFactory } from './bench-system.js';

/**
 * Every system the suite can run, in report order. Loaded lazily so a host imports
 * only the client library of the system it drives.
 */
export const systemLoaders: Readonly<Record<string, () => Promise<{ default: BenchSystemFactory }>>> = {
  offload: () => import('./offload.js'),
  'offload-pg': () => import('./offload-postgres.js'),
  bullmq: () => import('./bullmq.js'),
  'pg-boss': () => import('./pg-boss.js'),
  'graphile-worker': () => import('./graphile-worker.js'),
};

/** The system the others are compared against, when it is part of a run. */
export const BASELINE_SYSTEM = 'offload';
