/**
 * `npm run chaos`: a bounded fault-injection run against real Offload processes, judged by the
 * history checker. See chaos/README.md for what it does and how to read the verdict.
 * Exit codes: 0 history clean, 1 a violation, 2 the run itself could not be carried out.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSeededRandom } from '../src/testing/index.js';
import { createCluster, type Cluster } from './cluster.js';
import { startCrasher, type Crasher } from './crasher.js';
import { drain } from './drain.js';
import { createLedger, type Ledger } from './ledger.js';
import { startLagSampler, type LagSampler } from './loop-lag.js';
import { createMessageLookup } from './message-view.js';
import { buildOffloadConfig, writeOffloadConfig, type StorageConfig } from './offload-config.js';
import { startOperator, type Operator } from './operator.js';
import { parseOptions, USAGE, UsageError, type ChaosOptions } from './options.js';
import { postgresProblem, chaosSchema, dropSchema } from './postgres.js';
import { killAllChildren } from './processes.js';
import { startProgress } from './progress.js';
import { createChaosReceiver, type ChaosReceiver } from './receiver.js';
import { runProducers } from './producers.js';
import { sleep } from './timing.js';
import { judge, type Verdict } from './verdict.js';

const log = (line: string): void => console.log(line);

/** Everything a run starts, so tear-down can stop exactly that. */
interface Session {
  readonly options: ChaosOptions;
  readonly dir: string;
  readonly chaos: ChaosReceiver;
  readonly cluster: Cluster;
  readonly ledger: Ledger;
  readonly alerts: Map<string, number>;
  readonly pgSchema?: string;
  readonly startedAt: number;
  readonly lag: LagSampler;
  crasher?: Crasher;
  operator?: Operator;
  stopProgress?: () => void;
}

async function main(argv: readonly string[]): Promise<number> {
  let options: ChaosOptions | 'help';
  try {
    options = parseOptions(argv);
  } catch (error) {
    if (!(error instanceof UsageError || error instanceof TypeError)) throw error;
    console.error(`chaos: ${error.message}\n\n${USAGE}`);
    return 2;
  }
  if (options === 'help') {
    log(USAGE);
    return 0;
  }
  guardLifetime(options);
  const session = await setUp(options);
  let verdict: Verdict | undefined;
  try {
    verdict = await exercise(session);
    return verdict.ok ? 0 : 1;
  } finally {
    await tearDown(session, verdict);
  }
}

/** Children die with the runner, however it ends, and the whole run is bounded in time. */
function guardLifetime(options: ChaosOptions): void {
  process.on('exit', killAllChildren);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      console.error(`chaos: ${signal}, stopping every Offload process`);
      killAllChildren();
      process.exit(130);
    });
  }
  const boundMs = options.durationMs + options.drainTimeoutMs + 120_000;
  setTimeout(() => {
    console.error(`chaos: the run exceeded its ${Math.round(boundMs / 1_000)}s bound; giving up`);
    killAllChildren();
    process.exit(2);
  }, boundMs).unref();
}

async function setUp(options: ChaosOptions): Promise<Session> {
  const dir = mkdtempSync(join(tmpdir(), 'offload-chaos-'));
  const chaos = await createChaosReceiver(options.seed);
  const { storage, pgSchema } = await storageFor(options, dir, chaos);
  const configPath = writeOffloadConfig(dir, buildOffloadConfig(chaos.receiver.url, storage));
  const alerts = new Map<string, number>();
  const cluster = createCluster({
    size: options.instances,
    configPath,
    now: chaos.receiver.now,
    random: createSeededRandom(options.seed + 2),
    onAlert: (alert) => alerts.set(alert, (alerts.get(alert) ?? 0) + 1),
    log,
  });
  log(banner(options, dir));
  try {
    await cluster.start();
  } catch (error) {
    await cluster.stop(0);
    await chaos.receiver.close();
    throw new SetupError(startFailure(options, error));
  }
  const lag = startLagSampler(chaos.receiver.now);
  return { options, dir, chaos, cluster, ledger: createLedger(), alerts, pgSchema, startedAt: chaos.receiver.now(), lag };
}

async function storageFor(options: ChaosOptions, dir: string, chaos: ChaosReceiver): Promise<{ storage: StorageConfig; pgSchema?: string }> {
  if (options.store === 'sqlite') return { storage: { sqlite: { path: join(dir, 'offload.db') } } };
  const problem = await postgresProblem(options.pgUrl);
  if (problem) {
    await chaos.receiver.close();
    throw new SetupError(`--store postgres cannot run: ${problem}`);
  }
  const schema = chaosSchema();
  return { storage: { postgres: { url: options.pgUrl, schema } }, pgSchema: schema };
}

function banner(o: ChaosOptions, dir: string): string {
  const kills = o.killEveryMs > 0 ? `SIGKILL every ~${o.killEveryMs / 1_000}s` : 'no kills';
  const pg = o.store === 'postgres' ? `, ${o.pgRestarts} PostgreSQL restart(s)` : '';
  return (
    `chaos: ${o.durationMs / 1_000}s on ${o.store} with ${o.instances} instance(s), ${o.rate} msg/s, ${kills}${pg}, seed ${o.seed}\n` +
    `chaos: run folder ${dir} (config, and history.json when the verdict is not clean)`
  );
}

function startFailure(options: ChaosOptions, error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  if (options.store !== 'postgres') return `Offload did not start: ${message}`;
  return `offload serve could not start on PostgreSQL; --store postgres needs the PostgreSQL adapter wired into serve:\n${message}`;
}

class SetupError extends Error {}

/** Produce under faults and crashes, then stop, heal, drain and judge. */
async function exercise(session: Session): Promise<Verdict> {
  const { options, chaos, cluster, ledger } = session;
  const stopProducing = new AbortController();
  const deadline = Date.now() + options.durationMs + options.drainTimeoutMs;
  const random = createSeededRandom(options.seed + 3);
  const producing = runProducers({ target: cluster, ledger, receiver: chaos, rate: options.rate, random, stop: stopProducing.signal, deadline });
  session.crasher = startCrasher({
    cluster,
    killEveryMs: options.killEveryMs,
    pgRestarts: options.pgRestarts,
    pgUrl: options.pgUrl,
    durationMs: options.durationMs,
    random: createSeededRandom(options.seed + 4),
    now: chaos.receiver.now,
    log,
  });
  session.operator = startOperator(() => cluster.pickUrl(), 1_000);
  session.stopProgress = startProgress(progressSources(session), options.progressEveryMs, log);

  await Promise.race([sleep(options.durationMs), producing]);
  stopProducing.abort();
  await session.crasher.stop();
  await producing;
  chaos.heal();
  log(`chaos: producing stopped, faults healed; waiting for ${ledger.accepted().length} accepted messages to be acknowledged`);
  const drained = await drain(chaos.receiver, ledger.expectedByTarget(), { timeoutMs: options.drainTimeoutMs, progressEveryMs: options.progressEveryMs, log });
  log(drained.complete ? `chaos: all acknowledged ${(drained.tookMs / 1_000).toFixed(1)}s after producing stopped` : `chaos: gave up waiting after ${options.drainTimeoutMs / 1_000}s`);
  session.stopProgress();
  await session.operator.stop();
  return report(session);
}

function progressSources(session: Session): Parameters<typeof startProgress>[0] {
  return {
    ledger: session.ledger,
    receiver: session.chaos.receiver,
    cluster: session.cluster,
    crasher: () => session.crasher,
    operator: () => session.operator,
    alerts: session.alerts,
    instances: session.options.instances,
  };
}

async function report(session: Session): Promise<Verdict> {
  const { chaos, cluster, ledger, options } = session;
  const verdict = await judge({
    ledger,
    receiver: chaos.receiver,
    crashes: cluster.crashes(),
    crashMarginMs: options.crashMarginMs,
    startedAt: session.startedAt,
    lag: session.lag,
    lookup: createMessageLookup(() => cluster.pickUrl()),
  });
  for (const line of runFacts(session)) log(line);
  for (const line of verdict.details) log(line);
  log(verdict.headline);
  return verdict;
}

function runFacts(session: Session): string[] {
  const { chaos, cluster, ledger, crasher, operator, alerts } = session;
  const faults = new Map<string, number>();
  for (const record of chaos.receiver.records()) {
    const kind = record.fault ? (record.fault.kind === 'status' ? `status ${record.fault.status}` : record.fault.kind) : 'none (cut short)';
    faults.set(kind, (faults.get(kind) ?? 0) + 1);
  }
  const o = operator?.counts();
  const reasons = [...ledger.retryReasons()].map(([r, n]) => `${r} ${n}`).join(', ');
  const lag = session.lag.summary();
  return [
    `requests received ${chaos.receiver.records().length}: ${[...faults].map(([k, n]) => `${k} ${n}`).join(', ')}`,
    `crashes: ${crasher?.kills() ?? 0} SIGKILL, ${crasher?.pgRestarts() ?? 0} PostgreSQL restart(s), ${cluster.restarts()} instance restart(s)`,
    `producers: ${ledger.retries()} send retries${reasons ? ` (${reasons})` : ''}`,
    `operator: ${chaos.poisonedHits()} poisoned deliveries; ${o?.parkedRetries ?? 0} parked keys retried, ${o?.redriven ?? 0} dead letters redriven, ${o?.stalledRetries ?? 0} stalled lanes retried`,
    `alerts logged by Offload: ${alerts.size === 0 ? 'none' : [...alerts].map(([a, n]) => `${a} ${n}`).join(', ')}`,
    `runner event-loop lag (bounds the receiver's timestamps): p99 ${lag.p99.toFixed(1)}ms, max ${lag.max.toFixed(1)}ms`,
  ];
}

async function tearDown(session: Session, verdict: Verdict | undefined): Promise<void> {
  session.stopProgress?.();
  session.lag.stop();
  await session.operator?.stop();
  await session.crasher?.stop();
  await session.cluster.stop(3_000);
  const keep = session.options.keep || !verdict?.ok;
  if (keep) writeHistory(session, verdict);
  await session.chaos.receiver.close();
  if (session.pgSchema) await dropSchema(session.options.pgUrl, session.pgSchema).catch((e: unknown) => log(`chaos: could not drop schema ${session.pgSchema}: ${(e as Error).message}`));
  if (keep) log(`chaos: kept ${session.dir}`);
  else rmSync(session.dir, { recursive: true, force: true });
}

/** Everything needed to study a failed run offline: what was accepted, every request, every crash, every log tail. */
function writeHistory(session: Session, verdict: Verdict | undefined): void {
  const records = session.chaos.receiver.records().map(({ headers: _h, body: _b, ...rest }) => rest);
  const history = {
    options: session.options,
    startedAt: session.startedAt,
    verdict: verdict ? { headline: verdict.headline, details: verdict.details } : null,
    crashes: session.cluster.crashes(),
    accepted: session.ledger.accepted(),
    unanswered: [...session.ledger.unansweredIds()],
    records,
    logs: session.cluster.logTails(),
  };
  writeFileSync(join(session.dir, 'history.json'), JSON.stringify(history));
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof SetupError ? `chaos: ${error.message}` : error);
    killAllChildren();
    process.exit(2);
  },
);
