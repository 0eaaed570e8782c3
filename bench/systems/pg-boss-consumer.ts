import type { Job, PgBoss } from 'pg-boss';
import type { BenchMessage } from './bench-system.js';
import { sleep } from '../lib/clock.js';

/**
 * A pg-boss consumer loop built on its public `fetch()` and `complete()`/`fail()`.
 *
 * Why not `work()`: a pg-boss 12 worker fetches again at once only in burst mode, which
 * needs a full batch of more than one job (`burstWhenBatchFull`) or a cached ready count
 * refreshed once a minute (`burstWhenReadyExceeds`). A `key_strict_fifo` lane holding one
 * key hands out one job per fetch, so `work()` would take one job per
 * `pollingIntervalSeconds` (at least 0.5 s) there while NOTIFY is quiet (a drain).
 * This loop fetches again at once while jobs come back and backs off from 10 ms to 500 ms
 * only while the queue is empty.
 */
export interface ConsumerOptions {
  readonly queue: string;
  readonly batchSize: number;
  /** Deliver a fetched batch one job after another (ordered lanes) or all at once. */
  readonly sequential: boolean;
  handle(message: BenchMessage): Promise<void>;
}

const MIN_IDLE_MS = 10;
const MAX_IDLE_MS = 500;

export interface ConsumerLoop {
  stop(): Promise<void>;
}

async function handleBatch(boss: PgBoss, options: ConsumerOptions, jobs: Job<BenchMessage>[]): Promise<void> {
  const run = async (job: Job<BenchMessage>): Promise<string | undefined> => {
    try {
      await options.handle(job.data);
      return undefined;
    } catch {
      return job.id;
    }
  };
  let failed: (string | undefined)[];
  if (options.sequential) {
    failed = [];
    for (const job of jobs) failed.push(await run(job));
  } else {
    failed = await Promise.all(jobs.map(run));
  }
  const failedIds = failed.filter((id): id is string => id !== undefined);
  const doneIds = jobs.map((j) => j.id).filter((id) => !failedIds.includes(id));
  if (doneIds.length > 0) await boss.complete(options.queue, doneIds);
  if (failedIds.length > 0) await boss.fail(options.queue, failedIds);
}

export function startConsumerLoop(boss: PgBoss, options: ConsumerOptions): ConsumerLoop {
  let stopping = false;
  const loop = async (): Promise<void> => {
    let idleMs = MIN_IDLE_MS;
    while (!stopping) {
      const jobs = await boss.fetch<BenchMessage>(options.queue, { batchSize: options.batchSize }).catch(() => []);
      if (jobs.length === 0) {
        await sleep(idleMs);
        idleMs = Math.min(MAX_IDLE_MS, idleMs * 2);
        continue;
      }
      idleMs = MIN_IDLE_MS;
      await handleBatch(boss, options, jobs);
    }
  };
  const done = loop();
  return {
    async stop() {
      stopping = true;
      await done;
    },
  };
}
