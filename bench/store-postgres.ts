/**
 * Store-level throughput, PostgreSQL against SQLite, without HTTP: how fast messages are sent
 * (group commit) and how fast an unordered queue and a fifo queue are drained by claim + settle.
 *
 *   npx tsx bench/store-postgres.ts [--messages 20000] [--workers 8] [--batch 32] [--instances 2]
 *
 * PostgreSQL comes from OFFLOAD_BENCH_PG_URL (default postgres://postgres@127.0.0.1:5432/test);
 * each run uses a fresh schema, dropped afterwards.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import type { NewMessage } from '../src/domain/message.js';
import type { Claim, Store } from '../src/storage/port.js';
import { createPostgresStore } from '../src/storage/postgres/index.js';
import { createSqliteStore } from '../src/storage/sqlite/sqlite-store.js';

const { values } = parseArgs({
  options: {
    messages: { type: 'string', default: '20000' },
    workers: { type: 'string', default: '8' },
    batch: { type: 'string', default: '32' },
    instances: { type: 'string', default: '2' },
  },
});
const MESSAGES = Number(values.messages);
const WORKERS = Number(values.workers);
const BATCH = Number(values.batch);
const INSTANCES = Number(values.instances);
const PG_URL = process.env.OFFLOAD_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

const msg = (id: string, key: string | null = null): NewMessage => ({
  id, key, type: 'bench.event', data: JSON.stringify({ id, pad: 'x'.repeat(200) }), metadata: { tenantId: 't1' }, deliverAt: null,
});

async function sendAll(store: Store, channel: string, keyOf: (i: number) => string | null): Promise<number> {
  const started = performance.now();
  let next = 0;
  // 64 concurrent producers sending one message each: the shape of an HTTP API under load.
  await Promise.all(Array.from({ length: 64 }, async () => {
    while (next < MESSAGES) {
      const i = next++;
      await store.send(channel, [msg(`${channel}-${i}`, keyOf(i))]);
    }
  }));
  return MESSAGES / ((performance.now() - started) / 1000);
}

async function drain(stores: Store[], target: string): Promise<number> {
  const started = performance.now();
  let done = 0;
  let idle = 0;
  await Promise.all(stores.flatMap((store, n) => Array.from({ length: WORKERS }, async (_, w) => {
    while (done < MESSAGES && idle < 200) {
      const claims: Claim[] = await store.claim({ target, limit: BATCH, owner: `i${n}w${w}`, leaseMs: 60_000 });
      if (claims.length === 0) {
        idle++;
        await new Promise((resolve) => setTimeout(resolve, 1));
        continue;
      }
      const settlements = claims.flatMap((c) => c.deliveries.map((d) => ({
        deliveryId: d.deliveryId, epoch: d.epoch, decision: { kind: 'delivered' as const }, result: 'ok',
        attempt: { attempt: d.attempt, startedAt: Date.now(), durationMs: 3, statusCode: 200, error: null, response: 'ok' },
      })));
      await store.settle(settlements);
      done += settlements.length;
    }
  })));
  if (done < MESSAGES) throw new Error(`drained only ${done} of ${MESSAGES}`);
  return MESSAGES / ((performance.now() - started) / 1000);
}

async function run(name: string, open: () => Promise<Store[]>, close: () => Promise<void>): Promise<void> {
  const stores = await open();
  try {
    await stores[0]!.migrate();
    for (const store of stores) await store.declare([{ name: 'q', kind: 'queue' }, { name: 'f', kind: 'fifo' }]);
    const sendQ = await sendAll(stores[0]!, 'q', () => null);
    const drainQ = await drain(stores, 'q');
    const sendF = await sendAll(stores[0]!, 'f', (i) => `k${i % 500}`);
    const drainF = await drain(stores, 'f');
    console.log(`| ${name} | ${stores.length} | ${fmt(sendQ)} | ${fmt(drainQ)} | ${fmt(sendF)} | ${fmt(drainF)} |`);
  } finally {
    for (const store of stores) await store.close();
    await close();
  }
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

console.log(`${MESSAGES} messages, ${WORKERS} claim loops per instance, claim limit ${BATCH}; messages/s`);
console.log('| store | instances | send queue | claim+settle queue | send fifo (500 keys) | claim+settle fifo |');
console.log('|---|---|---|---|---|---|');

const dir = mkdtempSync(join(tmpdir(), 'offload-bench-'));
await run('SQLite (fsync)', async () => [createSqliteStore({ path: join(dir, 'bench.db') })], async () => rmSync(dir, { recursive: true, force: true }));

for (const instances of [1, INSTANCES]) {
  const schema = `offload_bench_${randomBytes(4).toString('hex')}`;
  await run(
    'PostgreSQL',
    async () => Array.from({ length: instances }, () => createPostgresStore({ url: PG_URL, schema, poolSize: WORKERS + 2 })),
    async () => {
      const client = new pg.Client({ connectionString: PG_URL });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await client.end();
    },
  );
}
