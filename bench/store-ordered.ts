/**
 * Store-level cost of the ordered paths on PostgreSQL, without HTTP: statements and round trips
 * per delivered message, and messages/s, for
 *   - a topic-ordered subscription drained one call at a time (claim once, then settleAndClaim),
 *     singly and in batches;
 *   - a fifo queue (many keys) drained by claim loops and batched settles, and by loops that
 *     settle and claim one lane at a time.
 *
 *   npx tsx bench/store-ordered.ts [--messages 5000] [--batch 100] [--keys 1000] [--workers 4] [--hold-snapshot]
 *
 * --hold-snapshot keeps a snapshot open in another session through the drains, as a long report
 * or backup would: no delivered row's index entry can be marked dead meanwhile, so every lookup
 * of a lane's head walks the lane's whole delivered past (the worst case between two VACUUMs).
 *
 * Round trips are counted at the client (every query a pooled connection sends, BEGIN and COMMIT
 * included), CPU time from /proc for the server processes serving them (so a loaded machine
 * changes messages/s far more than these). PostgreSQL comes from OFFLOAD_BENCH_PG_URL (default
 * postgres://postgres@127.0.0.1:5432/test); each run uses a fresh schema, dropped afterwards.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import pg from 'pg';
import type { NewMessage } from '../src/domain/message.js';
import type { Claim, ClaimRequest, Settlement, Store } from '../src/storage/port.js';
import { createPostgresStore } from '../src/storage/postgres/index.js';

const { values } = parseArgs({
  options: {
    messages: { type: 'string', default: '5000' },
    batch: { type: 'string', default: '100' },
    keys: { type: 'string', default: '1000' },
    workers: { type: 'string', default: '4' },
    'hold-snapshot': { type: 'boolean', default: false },
  },
});
const MESSAGES = Number(values.messages);
const BATCH = Number(values.batch);
const KEYS = Number(values.keys);
const WORKERS = Number(values.workers);
const PG_URL = process.env.OFFLOAD_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

let queries = 0;
const backends = new Set<number>();
const query = pg.Client.prototype.query;
pg.Client.prototype.query = function counted(this: pg.Client & { processID?: number }, ...args: unknown[]) {
  queries++;
  if (this.processID) backends.add(this.processID);
  return (query as (...a: unknown[]) => unknown).apply(this, args);
} as typeof pg.Client.prototype.query;

const msg = (id: string, key: string | null = null): NewMessage => ({
  id, key, type: 'bench.event', data: JSON.stringify({ id, pad: 'x'.repeat(200) }), metadata: { tenantId: 't1' }, deliverAt: null,
});
const delivered = (claims: Claim[]): Settlement[] => claims.flatMap((c) => c.deliveries.map((d) => ({
  deliveryId: d.deliveryId, epoch: d.epoch, decision: { kind: 'delivered' as const }, result: 'ok',
  attempt: { attempt: d.attempt, startedAt: Date.now(), durationMs: 1, statusCode: 200, error: null, response: 'ok' },
})));
const count = (claims: Claim[]) => claims.reduce((n, c) => n + c.deliveries.length, 0);

async function sendAll(store: Store, channel: string, keyOf: (i: number) => string | null): Promise<void> {
  for (let i = 0; i < MESSAGES; i += 500) {
    await store.send(channel, Array.from({ length: Math.min(500, MESSAGES - i) }, (_, k) => msg(`${channel}-${i + k}`, keyOf(i + k))));
  }
}

/** One call in flight: each answer settles and claims the next in one store step, as the dispatcher does. */
async function drainSubscription(store: Store, target: string, batchSize: number): Promise<void> {
  const next: ClaimRequest = { target, limit: 1, owner: 'o1', leaseMs: 60_000, batchSize };
  let claims = await store.claim(next);
  let done = 0;
  while (claims.length > 0) {
    done += count(claims);
    claims = (await store.settleAndClaim(delivered(claims), next)).claims;
  }
  if (done !== MESSAGES) throw new Error(`drained ${done} of ${MESSAGES} from ${target}`);
}

/** WORKERS loops claiming up to 32 keys each and settling them in one batch. */
async function drainFifo(store: Store, target: string): Promise<void> {
  let done = 0;
  let idle = 0;
  await Promise.all(Array.from({ length: WORKERS }, async (_, w) => {
    while (done < MESSAGES && idle < 200) {
      const claims = await store.claim({ target, limit: 32, owner: `w${w}`, leaseMs: 60_000 });
      if (claims.length === 0) {
        idle++;
        await new Promise((resolve) => setTimeout(resolve, 1));
        continue;
      }
      await store.settle(delivered(claims));
      done += count(claims);
    }
  }));
  if (done !== MESSAGES) throw new Error(`drained ${done} of ${MESSAGES} from ${target}`);
}

/** CPU seconds the database server's processes serving these connections have used (Linux, same machine). */
function serverCpu(): number {
  let ticks = 0;
  for (const pid of backends) {
    try {
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // not on this machine, or gone
    }
  }
  return ticks / 100;
}

/** As drainFifo, but each loop settles its batch and claims the next in one store step. */
async function drainFifoBatchedSteps(store: Store, target: string): Promise<void> {
  let done = 0;
  await Promise.all(Array.from({ length: WORKERS }, async (_, w) => {
    const next: ClaimRequest = { target, limit: 32, owner: `b${w}`, leaseMs: 60_000 };
    let claims = await store.claim(next);
    while (claims.length > 0) {
      done += count(claims);
      claims = (await store.settleAndClaim(delivered(claims), next)).claims;
    }
  }));
  if (done !== MESSAGES) throw new Error(`drained ${done} of ${MESSAGES} from ${target}`);
}

/** WORKERS × 8 loops each holding one key: every answer settles and claims the next lane in one store step. */
async function drainFifoStepwise(store: Store, target: string): Promise<void> {
  let done = 0;
  await Promise.all(Array.from({ length: WORKERS * 8 }, async (_, w) => {
    const next: ClaimRequest = { target, limit: 1, owner: `s${w}`, leaseMs: 60_000 };
    let claims = await store.claim(next);
    while (claims.length > 0) {
      done += count(claims);
      claims = (await store.settleAndClaim(delivered(claims), next)).claims;
    }
  }));
  if (done !== MESSAGES) throw new Error(`drained ${done} of ${MESSAGES} from ${target}`);
}

async function measure(name: string, work: () => Promise<void>): Promise<void> {
  const before = queries;
  const server = serverCpu();
  const cpu = process.cpuUsage();
  const started = performance.now();
  await work();
  const seconds = (performance.now() - started) / 1000;
  const own = process.cpuUsage(cpu);
  const us = (s: number) => Math.round((s * 1e6) / MESSAGES);
  console.log(`| ${name} | ${Math.round(MESSAGES / seconds).toLocaleString('en-US')} | ${((queries - before) / MESSAGES).toFixed(2)} | ${us(serverCpu() - server)} | ${us((own.user + own.system) / 1e6)} |`);
}

const schema = `offload_bench_${randomBytes(4).toString('hex')}`;
// The store runs on a pool of this module's `pg`, whose queries are the ones counted.
const pool = new pg.Pool({ connectionString: PG_URL, max: WORKERS + 2 });
const store = createPostgresStore({ pool, schema });
let holder: pg.Client | undefined;
try {
  await store.migrate();
  await store.declare([
    { name: 't', kind: 'topic' },
    { name: 't/one', kind: 'subscription', topic: 't', ordering: 'topic' },
    { name: 't/batched', kind: 'subscription', topic: 't', ordering: 'topic' },
    { name: 'f', kind: 'fifo' },
    { name: 'g', kind: 'fifo' },
    { name: 'h', kind: 'fifo' },
  ]);
  await sendAll(store, 't', () => null);
  await sendAll(store, 'f', (i) => `k${i % KEYS}`);
  await sendAll(store, 'g', (i) => `k${i % KEYS}`);
  await sendAll(store, 'h', (i) => `k${i % KEYS}`);
  if (values['hold-snapshot']) {
    holder = new pg.Client({ connectionString: PG_URL });
    await holder.connect();
    await holder.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
    await holder.query('SELECT 1');
  }
  console.log(`${MESSAGES} messages; PostgreSQL round trips counted at the client${holder ? '; a snapshot held open throughout' : ''}`);
  console.log('| case | messages/s | round trips per message | server CPU µs per message | client CPU µs per message |');
  console.log('|---|---|---|---|---|');
  await measure('subscription, one call in flight, batch 1', () => drainSubscription(store, 't/one', 1));
  await measure(`subscription, one call in flight, batch ${BATCH}`, () => drainSubscription(store, 't/batched', BATCH));
  await measure(`fifo, ${KEYS} keys, ${WORKERS} claim loops (limit 32) + batched settles`, () => drainFifo(store, 'f'));
  await measure(`fifo, ${KEYS} keys, ${WORKERS} loops of settleAndClaim (limit 32)`, () => drainFifoBatchedSteps(store, 'h'));
  await measure(`fifo, ${KEYS} keys, ${WORKERS * 8} loops of settleAndClaim (limit 1)`, () => drainFifoStepwise(store, 'g'));
} finally {
  await holder?.end();
  await store.close();
  await pool.end();
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await client.end();
}
