import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { configSchema } from '../src/config/schema.js';
import { BILLING, FIFO, PROJECTOR, QUEUE, TOPIC } from './workloads.js';

export type StorageConfig = { sqlite: { path: string } } | { postgres: { url: string; schema: string } };

/**
 * Short timeouts, leases and backoffs so the run converges within seconds of healing, and
 * attempt limits so high that nothing dead-letters or parks because of random faults: only
 * the deliberately poisoned messages (a permanent 400) do, and the runner's operator unblocks
 * them through the API.
 */
const FAST = { lockDuration: '2s', minBackoff: '20ms', maxBackoff: '500ms' } as const;

export function buildOffloadConfig(receiverUrl: string, storage: StorageConfig): Record<string, unknown> {
  return {
    server: { host: '127.0.0.1' },
    storage,
    // A short poll and grace keep recovery after a restart and shutdown at the end quick.
    delivery: { pollInterval: '250ms', shutdownGrace: '2s' },
    endpoints: { sink: { url: receiverUrl, timeout: '1s', ...breakerSettings() } },
    queues: {
      [QUEUE]: { preset: 'ancillary', endpoint: 'sink', path: `/${QUEUE}`, concurrency: 32, maxAttempts: 1000, ...FAST },
      [FIFO]: {
        preset: 'aggregate-fifo',
        endpoint: 'sink',
        path: `/${FIFO}`,
        concurrency: 16,
        maxAttempts: 1000,
        onExhausted: 'block',
        ...FAST,
      },
    },
    topics: {
      [TOPIC]: {
        subscriptions: {
          [PROJECTOR]: { endpoint: 'sink', path: `/${PROJECTOR}`, ordering: 'topic', batchSize: 10, stallAfterAttempts: 1000, ...FAST },
          [BILLING]: { endpoint: 'sink', path: `/${BILLING}`, ordering: 'key', concurrency: 16, stallAfterAttempts: 1000, ...FAST },
        },
      },
    },
  };
}

/** Writes the configuration as JSON (a YAML file is also JSON) and returns its path. */
export function writeOffloadConfig(dir: string, config: Record<string, unknown>): string {
  const path = join(dir, 'offload.json');
  writeFileSync(path, JSON.stringify(config, null, 2));
  return path;
}

/**
 * A circuit breaker that trips now and then under the random faults but cools down in half a
 * second, so it is exercised without stalling the run for the default 15 s. Builds without
 * per-endpoint breaker settings refuse the key, so it is only sent where the schema takes it.
 */
function breakerSettings(): { breaker?: { consecutiveFailures: number; coolDown: string } } {
  const breaker = { consecutiveFailures: 6, coolDown: '500ms' };
  const probe = configSchema.safeParse({ endpoints: { probe: { url: 'http://127.0.0.1:1', breaker } } });
  return probe.success ? { breaker } : {};
}
