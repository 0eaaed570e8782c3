/**
 * Where the CPU of a PostgreSQL drain goes: this process (Offload's store code and the driver)
 * against the PostgreSQL backends serving it, read from /proc (Linux, database on this machine).
 * Sends N messages to a queue, then drains them with claim + settle.
 *
 *   npx tsx bench/store-cpu.ts [--messages 5000] [--workers 8] [--batch 32]
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import pg from 'pg';
import type { Claim } from '../src/storage/port.js';
import { createPostgresStore } from '../src/storage/postgres/index.js';

const { values } = parseArgs({ options: { messages: { type: 'string', default: '5000' }, workers: { type: 'string', default: '8' }, batch: { type: 'string', default: '32' } } });
const MESSAGES = Number(values.messages);
const WORKERS = Number(values.workers);
const BATCH = Number(values.batch);
const PG_URL = process.env.OFFLOAD_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const TICK = 100; // USER_HZ on Linux

const schema = `offload_cpu_${randomBytes(4).toString('hex')}`;
const name = `offload-cpu-${schema.slice(-8)}`;
const pool = new pg.Pool({ connectionString: PG_URL, max: WORKERS + 2, application_name: name });
const store = createPostgresStore({ pool, schema, notify: false });

/** User + system CPU seconds of the backends serving our pool. */
async function backendCpu(): Promise<number> {
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  const { rows } = await admin.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE application_name = $1', [name]);
  await admin.end();
  let ticks = 0;
  for (const { pid } of rows) {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    ticks += Number(fields[11]) + Number(fields[12]);
  }
  return ticks / TICK;
}

try {
  await store.migrate();
  await store.declare([{ name: 'q', kind: 'queue' }]);
  for (let i = 0; i < MESSAGES; i += 100) {
    await store.send('q', Array.from({ length: 100 }, (_, j) => ({ id: `m-${i + j}`, key: null, type: 'bench.event', data: JSON.stringify({ n: i + j, pad: 'x'.repeat(200) }), metadata: {}, deliverAt: null })));
  }
  // Open every pooled connection first, so the backends exist before the first reading.
  await Promise.all(Array.from({ length: WORKERS }, () => store.ping()));
  const pgBefore = await backendCpu();
  const nodeBefore = process.cpuUsage();
  const started = performance.now();
  let done = 0;
  await Promise.all(Array.from({ length: WORKERS }, async (_, w) => {
    while (done < MESSAGES) {
      const claims: Claim[] = await store.claim({ target: 'q', limit: BATCH, owner: `w${w}`, leaseMs: 60_000 });
      if (claims.length === 0) break;
      const settlements = claims.flatMap((c) => c.deliveries.map((d) => ({
        deliveryId: d.deliveryId, epoch: d.epoch, decision: { kind: 'delivered' as const }, result: 'ok',
        attempt: { attempt: d.attempt, startedAt: Date.now(), durationMs: 3, statusCode: 200, error: null, response: 'ok' },
      })));
      await store.settle(settlements);
      done += settlements.length;
    }
  }));
  const seconds = (performance.now() - started) / 1000;
  const node = process.cpuUsage(nodeBefore);
  const nodeCpu = (node.user + node.system) / 1e6;
  const pgCpu = (await backendCpu()) - pgBefore;
  const us = (s: number) => Math.round((s / done) * 1e6);
  console.log(`drained ${done} in ${seconds.toFixed(2)} s (${Math.round(done / seconds)} msg/s); CPU per message: Offload process ${us(nodeCpu)} µs, PostgreSQL backends ${us(pgCpu)} µs`);
} finally {
  await store.close();
  await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await pool.end();
}
