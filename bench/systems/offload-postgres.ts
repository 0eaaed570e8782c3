/** Offload on PostgreSQL: the same adapter as `offload`, with a fresh database per case. */
import { createFreshDatabase, dropDatabase } from '../lib/postgres-admin.js';
import type { BenchSystem } from './bench-system.js';
import { createOffloadBench } from './offload.js';

export default function createOffloadPostgres(): BenchSystem {
  return createOffloadBench({
    name: 'offload-pg',
    storeLabel: 'PostgreSQL (synchronous_commit on for sends)',
    storage: async (env) => {
      const name = 'offload_bench_offload';
      const url = await createFreshDatabase(env.postgresAdminUrl, name);
      return { config: { postgres: { url, schema: 'offload', poolSize: 10 } }, drop: () => dropDatabase(env.postgresAdminUrl, name) };
    },
  });
}
