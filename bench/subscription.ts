/**
 * Ordered topic subscriptions on SQLite (or, with `--postgres URL`, PostgreSQL: a fresh schema per
 * case, dropped afterwards): events/s of one total-order subscription with batches
 * of 100 and without batching, and what fan-out to 3 subscriptions costs against one. Events are
 * published first (paused), then delivered to a no-op receiver in its own process, which checks
 * that every subscription got every sequence in order.
 *
 *   node --import tsx bench/subscription.ts [--events 50000] [--postgres postgres://postgres@127.0.0.1:5432/test]
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { pino } from 'pino';
import { buildConfig } from '../src/config/load.js';
import { createOffload } from '../src/offload.js';
import { postgresCpu } from './lib/process-cpu.js';

const { values } = parseArgs({ options: { events: { type: 'string', default: '50000' }, postgres: { type: 'string' } } });
const EVENTS = Number(values.events);
const POSTGRES = values.postgres;
const SCHEMA_PREFIX = `offload_sub_${process.pid}`;

/** Where a case stores its data: a file of its own, or a schema of its own (dropped at the end). */
function storage(dir: string, tag: string) {
  return POSTGRES ? { postgres: { url: POSTGRES, schema: `${SCHEMA_PREFIX}_${tag}` } } : { sqlite: { path: join(dir, `${tag}.db`) } };
}

async function dropSchemas(): Promise<void> {
  if (!POSTGRES) return;
  const client = new pg.Client({ connectionString: POSTGRES });
  await client.connect();
  try {
    const { rows } = await client.query<{ nspname: string }>('SELECT nspname FROM pg_namespace WHERE starts_with(nspname, $1)', [SCHEMA_PREFIX]);
    for (const { nspname } of rows) await client.query(`DROP SCHEMA "${nspname}" CASCADE`);
  } finally {
    await client.end();
  }
}

/** The receiver process: counts events per path and checks each path's sequences arrive in order. */
const RECEIVER = `
const { createServer } = require('node:http');
const last = new Map(); const counts = new Map(); let violations = 0;
const server = createServer((req, res) => {
  let body = ''; req.setEncoding('utf8'); req.on('data', (c) => (body += c));
  req.on('end', () => {
    const parsed = JSON.parse(body); const events = Array.isArray(parsed) ? parsed : [parsed];
    for (const e of events) { if (e.sequence !== (last.get(req.url) ?? 0) + 1) violations++; last.set(req.url, e.sequence); }
    counts.set(req.url, (counts.get(req.url) ?? 0) + events.length); res.end('ok');
  });
});
server.keepAliveTimeout = 60000;
server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }));
setInterval(() => process.send({ counts: Object.fromEntries(counts), violations }), 20).unref();
process.on('message', (m) => { if (m === 'exit') process.exit(0); });
`;

interface ReceiverState {
  counts: Record<string, number>;
  violations: number;
}

async function startReceiver(dir: string): Promise<{ child: ChildProcess; port: number; state: ReceiverState }> {
  const script = join(dir, 'receiver.cjs');
  writeFileSync(script, RECEIVER);
  const child = fork(script);
  const state: ReceiverState = { counts: {}, violations: 0 };
  const port = await new Promise<number>((resolve) =>
    child.on('message', (m: { port?: number; counts?: Record<string, number>; violations?: number }) => {
      if (m.port) resolve(m.port);
      if (m.counts) Object.assign(state, { counts: m.counts, violations: m.violations });
    }),
  );
  return { child, port, state };
}

interface Run {
  events: number;
  seconds: number;
  /** µs of Offload's CPU per published event */
  cpuPerEvent: number;
  /** µs of PostgreSQL's CPU (every server process on this machine) per published event; 0 on SQLite */
  postgresPerEvent: number;
}

/** Delivers `events` published events to `subscriptions` subscriptions. */
async function run(events: number, subscriptions: number, batchSize: number, dir: string, receiver: Awaited<ReturnType<typeof startReceiver>>): Promise<Run> {
  const tag = `s${subscriptions}b${batchSize}`;
  const subs = Object.fromEntries(Array.from({ length: subscriptions }, (_, i) => [`sub${i}`, { endpoint: 'r', path: `/${tag}/${i}`, ordering: 'topic' as const, batchSize }]));
  const config = buildConfig({ server: { port: 0 }, storage: storage(dir, tag), endpoints: { r: { url: `http://127.0.0.1:${receiver.port}`, breaker: false } }, topics: { events: { subscriptions: subs } } });
  const offload = await createOffload(config, { logger: pino({ level: 'warn' }) });
  await offload.start();
  const post = (path: string, body?: unknown) => fetch(`${offload.url}${path}`, { method: 'POST', ...(body ? { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) } : {}) });
  await post('/v1/topics/events/pause');
  const pad = 'x'.repeat(220);
  for (let i = 0; i < events; i += 1000) await post('/v1/topics/events/messages/batch', { messages: Array.from({ length: Math.min(1000, events - i) }, (_, j) => ({ id: `e${i + j}`, data: { n: i + j, pad } })) });
  const started = performance.now();
  const cpu = process.cpuUsage();
  const postgresBefore = POSTGRES ? postgresCpu() : 0;
  await post('/v1/topics/events/resume');
  const paths = Object.values(subs).map((s) => s.path);
  while (!paths.every((p) => (receiver.state.counts[p] ?? 0) >= events)) await new Promise((r) => setTimeout(r, 10));
  const seconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  const postgresUsed = POSTGRES ? postgresCpu() - postgresBefore : 0;
  await offload.stop();
  return { events, seconds, cpuPerEvent: (used.user + used.system) / events, postgresPerEvent: (postgresUsed * 1e6) / events };
}

const dir = mkdtempSync(join(tmpdir(), 'offload-subscription-'));
const receiver = await startReceiver(dir);
try {
  const batched = await run(EVENTS, 1, 100, dir, receiver);
  // One call in flight per event: a tenth of the events keeps this case short.
  const unbatched = await run(Math.ceil(EVENTS / 10), 1, 1, dir, receiver);
  const fanout = await run(EVENTS, 3, 100, dir, receiver);
  const rate = (r: { events: number; seconds: number }, n = 1) => Math.round((r.events * n) / r.seconds).toLocaleString('en-US');
  const postgres = (r: Run) => (POSTGRES ? ` | ${r.postgresPerEvent.toFixed(1)} µs` : '');
  console.log(`| case | events/s | Offload's CPU per published event${POSTGRES ? " | PostgreSQL's CPU per published event" : ''} |`);
  console.log(`|---|---|---${POSTGRES ? '|---' : ''}|`);
  console.log(`| 1 subscription, ordering topic, batches of 100 | ${rate(batched)} | ${batched.cpuPerEvent.toFixed(1)} µs${postgres(batched)} |`);
  console.log(`| 1 subscription, ordering topic, unbatched | ${rate(unbatched)} | ${unbatched.cpuPerEvent.toFixed(1)} µs${postgres(unbatched)} |`);
  console.log(`| 3 subscriptions, batches of 100 (deliveries/s) | ${rate(fanout, 3)} | ${fanout.cpuPerEvent.toFixed(1)} µs (${(fanout.cpuPerEvent / batched.cpuPerEvent).toFixed(2)}× one subscription)${postgres(fanout)} |`);
  if (receiver.state.violations > 0) throw new Error(`${receiver.state.violations} events out of order`);
  console.log('order checked: every subscription received every sequence in order');
} finally {
  receiver.child.send('exit');
  rmSync(dir, { recursive: true, force: true });
  await dropSchemas();
}
