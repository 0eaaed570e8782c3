import pg from 'pg';
import { createFreshDatabase, dropDatabase } from './postgres-admin.js';
import { sleep } from './clock.js';
import { summarizeLatencies, type LatencySummary } from './stats.js';

/** What the database alone answers at the latency case's rate: the floor under every PostgreSQL system's enqueue-to-receipt. */
export interface CommitFloor {
  readonly ratePerSec: number;
  readonly seconds: number;
  readonly latency: LatencySummary;
}

const DATABASE = 'offload_bench_commit_floor';

/**
 * One durable commit per message at `ratePerSec` for `seconds`, open loop like the latency case:
 * a single-row INSERT in its own transaction (synchronous_commit as the server has it), issued
 * on time whether or not the earlier ones have answered, over up to 8 connections, each timed
 * from its issue to its answer. A queue on this database cannot answer a durable send faster, so
 * the p99 here says how much of a system's p99 is the machine's WAL flushes (fsync stalls of a
 * shared disk show here first).
 */
export async function measureCommitFloor(adminUrl: string, ratePerSec: number, seconds: number): Promise<CommitFloor> {
  const url = await createFreshDatabase(adminUrl, DATABASE);
  const pool = new pg.Pool({ connectionString: url, max: 8 });
  try {
    await pool.query('CREATE TABLE probe (id BIGSERIAL PRIMARY KEY, sent_at BIGINT NOT NULL, body TEXT NOT NULL)');
    const body = 'x'.repeat(200);
    const samples: number[] = [];
    const pending: Promise<void>[] = [];
    const total = Math.round(ratePerSec * seconds);
    const start = performance.now();
    for (let i = 0; i < total; i += 1) {
      const wait = start + (i * 1000) / ratePerSec - performance.now();
      if (wait > 0) await sleep(wait);
      const issued = performance.now();
      pending.push(pool.query('INSERT INTO probe (sent_at, body) VALUES ($1, $2)', [Date.now(), body]).then(() => {
        samples.push(performance.now() - issued);
      }));
    }
    await Promise.all(pending);
    return { ratePerSec, seconds, latency: summarizeLatencies(samples) };
  } finally {
    await pool.end();
    await dropDatabase(adminUrl, DATABASE);
  }
}
