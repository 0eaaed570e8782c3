/**
 * Throughput of 1, 2 and 3 `offload serve` processes sharing one PostgreSQL database: 20,000
 * pre-enqueued messages (a queue, then a fifo queue of 1,000 keys) drained to a no-op receiver
 * in this process. Every run checks that each id arrived; ordering is covered by the tests.
 * Beside the rate it gives the CPU time per delivered message of each instance (user + system,
 * from /proc), of all instances together, and of every PostgreSQL process on this machine: what
 * coordinating more instances costs shows as more CPU per message, not only as the rate.
 *
 *   node --import tsx bench/instances.ts [--messages 20000] [--instances 1,2,3] [--workloads queue,fifo] [--profile DIR]
 *
 * `--profile DIR` writes a CPU profile of each instance there (`--cpu-prof`; the instances are
 * stopped with SIGTERM so that they write it), to read with `bench/lib/profile-summary.ts`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { stringify } from 'yaml';
import { createFreshDatabase, dropDatabase } from './lib/postgres-admin.js';
import { cpuOf, postgresCpu } from './lib/process-cpu.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const ADMIN_URL = process.env.OFFLOAD_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const { values } = parseArgs({
  options: {
    messages: { type: 'string', default: '20000' },
    instances: { type: 'string', default: '1,2,3' },
    workloads: { type: 'string', default: 'queue,fifo' },
    profile: { type: 'string' },
  },
});
const TOTAL = Number(values.messages);
const COUNTS = values.instances.split(',').map(Number);
const WORKLOADS = values.workloads.split(',').filter((w): w is 'queue' | 'fifo' => w === 'queue' || w === 'fifo');
const PROFILE_ARGS = values.profile ? ['--cpu-prof', '--cpu-prof-dir', resolve(values.profile)] : [];

/** The no-op receiver: counts distinct ids per path. Runs in this process; Offload runs in children. */
function startReceiver(): Promise<{ url: string; seen: Map<string, Set<string>>; close(): void }> {
  const seen = new Map<string, Set<string>>();
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      const ids = seen.get(req.url!) ?? new Set<string>();
      ids.add((JSON.parse(body) as { id: string }).id);
      seen.set(req.url!, ids);
      res.end('ok');
    });
  });
  server.keepAliveTimeout = 60_000;
  return new Promise((resolveStart) =>
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      resolveStart({ url: `http://127.0.0.1:${port}`, seen, close: () => server.close() });
    }),
  );
}

function spawnInstance(configPath: string): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, [...PROFILE_ARGS, '--import', 'tsx', join(ROOT, 'src/cli/main.ts'), 'serve', '--config', configPath, '--port', '0'], {
    cwd: ROOT,
    env: { ...process.env, OFFLOAD_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolveStart, reject) => {
    let log = '';
    const timer = setTimeout(() => reject(new Error(`instance did not start:\n${log}`)), 30_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      log += chunk.toString();
      const match = /listening on (http:\/\/[^\s|"]+)/.exec(log);
      if (match) {
        clearTimeout(timer);
        resolveStart({ url: match[1]!, child });
      }
    });
  });
}

interface DrainResult {
  rate: number;
  /** CPU µs per delivered message of each instance, in start order. */
  perInstanceUs: number[];
  postgresUs: number;
  /** Transactions committed in the database per delivered message, all instances together. */
  transactions: number;
}

/**
 * Transactions committed in the database so far. A server process adds its counts there when
 * it exits at the latest: with `settled`, read once every other connection to the database has
 * ended (after the instances were stopped).
 */
async function commitsIn(url: string, settled = false): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const others = "SELECT COUNT(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()";
    await waitFor(async () => !settled || Number((await client.query<{ n: string }>(others)).rows[0]!.n) === 0, 10_000);
    await client.query('SELECT pg_stat_clear_snapshot()');
    const { rows } = await client.query<{ n: string }>('SELECT xact_commit AS n FROM pg_stat_database WHERE datname = current_database()');
    return Number(rows[0]!.n);
  } finally {
    await client.end();
  }
}

/** Kills an instance; with --profile, stops it (SIGTERM, SIGKILL after 10 s) so that it writes its profile. */
function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  if (PROFILE_ARGS.length === 0) {
    child.kill('SIGKILL');
    return exited;
  }
  return new Promise((done) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', () => {
      clearTimeout(timer);
      done();
    });
    child.kill('SIGTERM');
  });
}

async function post(url: string, body: unknown): Promise<void> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  if (res.status >= 300) throw new Error(`${url}: ${res.status} ${await res.text()}`);
}

async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function drain(instances: number, kind: 'queue' | 'fifo', receiver: Awaited<ReturnType<typeof startReceiver>>, dir: string): Promise<DrainResult> {
  const database = 'offload_bench_instances';
  const url = await createFreshDatabase(ADMIN_URL, database);
  const path = `/${kind}-${instances}`;
  const configPath = join(dir, `offload-${kind}-${instances}.yaml`);
  const queue = kind === 'fifo' ? { preset: 'aggregate-fifo', endpoint: 'r', path, concurrency: 64 } : { preset: 'ancillary', endpoint: 'r', path, concurrency: 64 };
  writeFileSync(configPath, stringify({ storage: { postgres: { url, schema: 'offload', poolSize: 10 } }, endpoints: { r: { url: receiver.url, breaker: false } }, queues: { work: queue } }));
  const procs = [await spawnInstance(configPath)];
  let commitsBefore = 0;
  try {
    await post(`${procs[0]!.url}/v1/queues/work/pause`, undefined);
    const pad = 'x'.repeat(220);
    for (let i = 0; i < TOTAL; i += 1000) {
      const messages = Array.from({ length: 1000 }, (_, j) => ({ id: `m${i + j}`, ...(kind === 'fifo' ? { key: `k${(i + j) % 1000}` } : {}), data: { n: i + j, pad } }));
      await post(`${procs[0]!.url}/v1/queues/work/messages/batch`, { messages });
    }
    for (let i = 1; i < instances; i++) procs.push(await spawnInstance(configPath));
    // What the instances committed before (the sends) may not be counted yet: a few dozen
    // transactions against the drain's thousands.
    commitsBefore = await commitsIn(url);
    const cpuBefore = procs.map((p) => cpuOf(p.child.pid!));
    const postgresBefore = postgresCpu();
    const started = performance.now();
    await post(`${procs[0]!.url}/v1/queues/work/resume`, undefined);
    await waitFor(() => (receiver.seen.get(path)?.size ?? 0) >= TOTAL, 300_000);
    const rate = TOTAL / ((performance.now() - started) / 1000);
    const perMessage = (seconds: number) => (seconds * 1e6) / TOTAL;
    const result = {
      rate,
      perInstanceUs: procs.map((p, i) => perMessage(cpuOf(p.child.pid!) - cpuBefore[i]!)),
      postgresUs: perMessage(postgresCpu() - postgresBefore),
    };
    // A backend's counts reach pg_stat_database when it exits at the latest.
    await Promise.all(procs.map((p) => stop(p.child)));
    return { ...result, transactions: ((await commitsIn(url, true)) - commitsBefore) / TOTAL };
  } finally {
    await Promise.all(procs.map((p) => stop(p.child)));
    await dropDatabase(ADMIN_URL, database);
  }
}

const dir = mkdtempSync(join(tmpdir(), 'offload-instances-'));
const receiver = await startReceiver();
try {
  console.log('| workload | instances | msg/s | Offload CPU µs per message, all instances (each) | PostgreSQL CPU µs per message | transactions per message |');
  console.log('|---|---|---|---|---|---|');
  for (const kind of WORKLOADS) {
    for (const n of COUNTS) {
      const r = await drain(n, kind, receiver, dir);
      const total = r.perInstanceUs.reduce((a, b) => a + b, 0);
      const each = n > 1 ? ` (${r.perInstanceUs.map((us) => us.toFixed(0)).join(' + ')})` : '';
      console.log(`| ${kind} drain, ${TOTAL.toLocaleString('en-US')} messages | ${n} | ${Math.round(r.rate).toLocaleString('en-US')} | ${total.toFixed(0)}${each} | ${r.postgresUs.toFixed(0)} | ${r.transactions.toFixed(3)} |`);
    }
  }
} finally {
  receiver.close();
  rmSync(dir, { recursive: true, force: true });
}
