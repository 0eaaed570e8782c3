/**
 * CPU per delivered message of Offload in one process: a real Offload (createOffload, SQLite in a
 * temporary directory, or with `--postgres <url>` a fresh schema on that database) delivers a
 * pre-enqueued backlog over HTTP to a no-op receiver in its own process; the figure is this
 * process's CPU time (user + system) from the resume to the receiver's last answer, divided by the
 * deliveries. On PostgreSQL (a server on this machine) it also gives the CPU time of every
 * PostgreSQL process over the same span, and the transactions committed per delivery. CPU time
 * depends far less on other load on the machine than wall time, so before/after pairs stay
 * comparable on a shared machine.
 *
 *   node --import tsx bench/delivery-cpu.ts [--scenarios drain,fifo,fanout,fanout-batched] [--messages 10000] [--runs 3] [--delay-ms 0] [--postgres <url>]
 *
 * drain: a queue at concurrency 32; fifo: a fifo queue at concurrency 64 over 500 keys;
 * fanout: a topic with 3 ordered subscriptions (ordering topic, unbatched), a tenth of the
 * messages published; fanout-batched: the same with batches of 100 and every message published.
 * `--delay-ms` makes the receiver answer after that many milliseconds.
 * `--profile <dir>` writes a CPU profile of each run's delivery phase only (open it in Chrome
 * DevTools, or `node --import tsx bench/lib/profile-summary.ts <file>`).
 *
 * `OFFLOAD_CPU_MARK=<file>` writes this process's id to that file as each measured phase starts,
 * so that a profiler of the whole machine (`perf record -a`) can be started on time.
 *
 * `--rate <n>` measures a trickle instead of a backlog: the channel delivers from the start and
 * this process sends the messages one per HTTP request at n per second (open loop, like the
 * latency case of `npm run bench`). The CPU figure then includes the producer's HTTP client,
 * and the table adds enqueue-to-receipt p50 and p99 (from just before the send to the
 * receiver's arrival).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { pino } from 'pino';
import { Pool } from 'undici';
import { buildConfig } from '../src/config/load.js';
import type { ConfigInput } from '../src/config/schema.js';
import { createOffload } from '../src/offload.js';
import { postgresCpu } from './lib/process-cpu.js';
import { median, summarizeLatencies } from './lib/stats.js';

const { values } = parseArgs({
  options: {
    scenarios: { type: 'string', default: 'drain,fifo,fanout' },
    messages: { type: 'string', default: '10000' },
    runs: { type: 'string', default: '3' },
    'delay-ms': { type: 'string', default: '0' },
    profile: { type: 'string' },
    postgres: { type: 'string' },
    rate: { type: 'string' },
  },
});
const MESSAGES = Number(values.messages);
const RUNS = Number(values.runs);
const DELAY_MS = Number(values['delay-ms']);
const RATE = values.rate ? Number(values.rate) : 0;

/** The receiver: answers 200 (after the delay), counts deliveries per path, checks each path's sequence. */
const RECEIVER = `
const { createServer } = require('node:http');
const delay = Number(process.argv[2]);
const last = new Map(); const counts = new Map(); let violations = 0; let latencies = [];
const server = createServer((req, res) => {
  let body = ''; req.setEncoding('utf8'); req.on('data', (c) => (body += c));
  req.on('end', () => {
    const parsed = JSON.parse(body); const events = Array.isArray(parsed) ? parsed : [parsed];
    for (const e of events) {
      if (e.data.sentAt !== undefined) latencies.push(performance.timeOrigin + performance.now() - e.data.sentAt);
      const lane = req.url + (e.subject ?? '');
      if (e.data.seq !== undefined) { if (e.data.seq !== (last.get(lane) ?? 0) + 1) violations++; last.set(lane, e.data.seq); }
    }
    const done = () => { counts.set(req.url, (counts.get(req.url) ?? 0) + events.length); res.end('ok'); };
    if (delay > 0) setTimeout(done, delay); else done();
  });
});
server.keepAliveTimeout = 120000;
server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }));
// With a callback, a send that meets the channel closing (the runner is done) is dropped, not thrown.
const ignore = () => {};
setInterval(() => { if (process.connected) process.send({ counts: Object.fromEntries(counts), violations }, ignore); }, 5).unref();
process.on('message', (m) => {
  if (m === 'reset') { counts.clear(); last.clear(); violations = 0; latencies = []; }
  if (m === 'latencies') process.send({ latencies });
});
process.on('disconnect', () => process.exit(0));
`;

interface Receiver {
  child: ChildProcess;
  port: number;
  counts: Record<string, number>;
  violations: number;
  latencies?: (latencies: number[]) => void;
}

async function startReceiver(dir: string): Promise<Receiver> {
  const script = join(dir, 'receiver.cjs');
  writeFileSync(script, RECEIVER);
  const child = fork(script, [String(DELAY_MS)]);
  const receiver: Receiver = { child, port: 0, counts: {}, violations: 0 };
  receiver.port = await new Promise<number>((resolve) =>
    child.on('message', (m: { port?: number; counts?: Record<string, number>; violations?: number; latencies?: number[] }) => {
      if (m.port) resolve(m.port);
      if (m.latencies) receiver.latencies?.(m.latencies);
      if (m.counts) Object.assign(receiver, { counts: m.counts, violations: m.violations });
    }),
  );
  return receiver;
}

interface Scenario {
  /** Messages published, and deliveries expected per path. */
  messages: number;
  channel(): Pick<ConfigInput, 'queues' | 'topics'>;
  base: string;
  paths: string[];
  message(i: number): Record<string, unknown>;
}

function scenario(name: string): Scenario {
  const pad = 'x'.repeat(220);
  if (name === 'drain') {
    return {
      messages: MESSAGES, base: '/v1/queues/q', paths: ['/drain'],
      channel: () => ({ queues: { q: { preset: 'ancillary', endpoint: 'r', path: '/drain', concurrency: 32 } } }),
      message: (i) => ({ id: `m${i}`, data: { n: i, pad } }),
    };
  }
  if (name === 'fifo') {
    const keys = 500;
    return {
      messages: MESSAGES, base: '/v1/queues/f', paths: ['/fifo'],
      channel: () => ({ queues: { f: { preset: 'aggregate-fifo', endpoint: 'r', path: '/fifo', concurrency: 64 } } }),
      message: (i) => ({ id: `m${i}`, key: `k${i % keys}`, data: { seq: Math.floor(i / keys) + 1, pad } }),
    };
  }
  if (name === 'fanout') {
    const paths = ['/s0', '/s1', '/s2'];
    const subscriptions = Object.fromEntries(paths.map((path, i) => [`s${i}`, { preset: 'domain-events' as const, endpoint: 'r', path, ordering: 'topic' as const, batchSize: 1 }]));
    return {
      messages: Math.ceil(MESSAGES / 10), base: '/v1/topics/t', paths,
      channel: () => ({ topics: { t: { subscriptions } } }),
      message: (i) => ({ id: `m${i}`, data: { seq: i + 1, pad } }),
    };
  }
  if (name === 'fanout-batched') {
    const paths = ['/b0', '/b1', '/b2'];
    const subscriptions = Object.fromEntries(paths.map((path, i) => [`b${i}`, { preset: 'domain-events' as const, endpoint: 'r', path, ordering: 'topic' as const, batchSize: 100 }]));
    return {
      messages: MESSAGES, base: '/v1/topics/t', paths,
      channel: () => ({ topics: { t: { subscriptions } } }),
      message: (i) => ({ id: `m${i}`, data: { seq: i + 1, pad } }),
    };
  }
  throw new Error(`unknown scenario '${name}' (drain, fifo, fanout, fanout-batched)`);
}

async function commits(): Promise<number> {
  const admin = new pg.Client({ connectionString: values.postgres });
  await admin.connect();
  const { rows } = await admin.query<{ n: string }>('SELECT xact_commit AS n FROM pg_stat_database WHERE datname = current_database()');
  await admin.end();
  return Number(rows[0]!.n);
}

/** Sends the scenario's messages one per request at RATE per second, each stamped with when its send began. */
async function trickle(s: Scenario, post: (path: string, body: unknown) => Promise<void>): Promise<void> {
  const started = performance.now();
  const pending: Promise<void>[] = [];
  for (let i = 0; i < s.messages; i++) {
    const due = started + (i * 1000) / RATE;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    const message = s.message(i);
    pending.push(post(`${s.base}/messages`, { ...message, data: { ...(message.data as object), sentAt: performance.timeOrigin + performance.now() } }));
  }
  await Promise.all(pending);
}

async function latencies(receiver: Receiver): Promise<number[]> {
  return new Promise((resolve) => {
    receiver.latencies = resolve;
    receiver.child.send('latencies');
  });
}

interface RunResult {
  cpuUs: number;
  pgUs: number;
  transactions: number;
  rate: number;
  p50: number;
  p99: number;
}

async function run(name: string, dir: string, receiver: Receiver, index: number): Promise<RunResult> {
  const s = scenario(name);
  const schema = `cpu_${name.replaceAll("-", "_")}_${index < 0 ? 'w' : index}_${process.pid}`;
  const config = buildConfig({
    server: { port: 0 },
    storage: values.postgres ? { postgres: { url: values.postgres, schema, poolSize: 10 } } : { sqlite: { path: join(dir, `${name}-${index}.db`) } },
    endpoints: { r: { url: `http://127.0.0.1:${receiver.port}`, breaker: false, timeout: '30s' } },
    ...s.channel(),
  });
  const offload = await createOffload(config, { logger: pino({ level: 'warn' }) });
  await offload.start();
  // Like the producers of `npm run bench`: an undici Pool over keep-alive connections.
  const pool = new Pool(offload.url, { connections: 64, pipelining: 1 });
  const post = async (path: string, body?: unknown) => {
    const res = await pool.request({ path, method: 'POST', ...(body ? { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) } : {}) });
    const text = await res.body.text();
    if (res.statusCode >= 300) throw new Error(`POST ${path}: ${res.statusCode} ${text}`);
  };
  receiver.child.send('reset');
  receiver.counts = {};
  if (!RATE) await post(`${s.base}/pause`);
  for (let i = 0; i < (RATE ? 0 : s.messages); i += 1000) {
    await post(`${s.base}/messages/batch`, { messages: Array.from({ length: Math.min(1000, s.messages - i) }, (_, j) => s.message(i + j)) });
  }
  const session = values.profile ? new Session() : undefined;
  if (session) {
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.start');
  }
  if (process.env.OFFLOAD_CPU_MARK) writeFileSync(process.env.OFFLOAD_CPU_MARK, `${process.pid}\n`);
  const started = performance.now();
  const cpu = process.cpuUsage();
  const pgBefore = values.postgres ? postgresCpu() : 0;
  const commitsBefore = values.postgres ? await commits() : 0;
  if (RATE) await trickle(s, post);
  else await post(`${s.base}/resume`);
  while (!s.paths.every((p) => (receiver.counts[p] ?? 0) >= s.messages)) await new Promise((r) => setTimeout(r, 5));
  const used = process.cpuUsage(cpu);
  const pgUsed = values.postgres ? postgresCpu() - pgBefore : 0;
  const seconds = (performance.now() - started) / 1000;
  if (session) {
    const { profile } = await session.post('Profiler.stop');
    mkdirSync(values.profile!, { recursive: true });
    writeFileSync(join(values.profile!, `${name}-${index}.cpuprofile`), JSON.stringify(profile));
    session.disconnect();
  }
  await pool.close();
  await offload.stop();
  // Read after the pool's connections closed: a backend reports its counts when it exits.
  const transactions = values.postgres ? (await commits()) - commitsBefore : 0;
  if (values.postgres) {
    const admin = new pg.Client({ connectionString: values.postgres });
    await admin.connect();
    await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await admin.end();
  }
  if (receiver.violations > 0) throw new Error(`${name}: ${receiver.violations} deliveries out of order`);
  const deliveries = s.messages * s.paths.length;
  const waits = summarizeLatencies(RATE ? await latencies(receiver) : []);
  return {
    cpuUs: (used.user + used.system) / deliveries, pgUs: (pgUsed * 1e6) / deliveries, transactions: transactions / deliveries, rate: deliveries / seconds,
    p50: waits.p50, p99: waits.p99,
  };
}

const dir = mkdtempSync(join(tmpdir(), 'offload-delivery-cpu-'));
const receiver = await startReceiver(dir);
try {
  const pgColumns = values.postgres ? ' PostgreSQL CPU µs per delivery | transactions per delivery |' : '';
  const latencyColumns = RATE ? ' p50 ms | p99 ms |' : '';
  console.log(`| scenario${RATE ? ` at ${RATE}/s` : ''} | CPU µs per delivery (median; runs) |${pgColumns} deliveries/s (median) |${latencyColumns}`);
  console.log(`|---|---|${values.postgres ? '---|---|' : ''}---|${RATE ? '---|---|' : ''}`);
  for (const name of values.scenarios.split(',')) {
    // A first, unreported run warms up the JIT, so the runs that count are alike.
    await run(name, dir, receiver, -1);
    const results = [];
    for (let i = 0; i < RUNS; i++) results.push(await run(name, dir, receiver, i));
    const cpu = results.map((r) => r.cpuUs);
    const pg = values.postgres ? ` ${median(results.map((r) => r.pgUs)).toFixed(1)} | ${median(results.map((r) => r.transactions)).toFixed(3)} |` : '';
    const waits = RATE ? ` ${median(results.map((r) => r.p50)).toFixed(1)} | ${median(results.map((r) => r.p99)).toFixed(1)} |` : '';
    console.log(`| ${name} | ${median(cpu).toFixed(1)} (${cpu.map((c) => c.toFixed(0)).join(', ')}) |${pg} ${Math.round(median(results.map((r) => r.rate)))} |${waits}`);
  }
} finally {
  receiver.child.disconnect();
  rmSync(dir, { recursive: true, force: true });
}
