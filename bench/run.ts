/**
 * The benchmark orchestrator: `npm run bench -- [--quick] [--runs N] [--only a,b]
 * [--scenarios list]`. Starts the receiver, then runs every case for every system in a
 * fresh host process, run after run, and writes bench/results/latest.{json,md}.
 * Everything talks to 127.0.0.1; every wait is bounded; children die with this process.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os, { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { BASELINE_SYSTEM, systemLoaders } from './systems/index.js';
import { casesFor, FULL_SIZES, QUICK_SIZES, type BenchCase, type Sizes } from './scenarios/index.js';
import { killAllChildren, spawnHost, spawnReceiver } from './lib/child-processes.js';
import { parseCliOptions, USAGE, type CliOptions } from './lib/cli-options.js';
import { measureCommitFloor, type CommitFloor } from './lib/commit-floor.js';
import { describeMachine, loadAverage } from './lib/machine-info.js';
import { renderMarkdown } from './lib/markdown-report.js';
import { createReceiverClient, type ReceiverClient, type WaitLimits } from './lib/receiver-client.js';
import { computeRatios, summarizeCase, type CaseRunResult, type SystemResult } from './lib/results.js';
import { nowMs } from './lib/clock.js';

const REDIS_URL = 'redis://127.0.0.1:6379';
const POSTGRES_ADMIN_URL = 'postgres://postgres@127.0.0.1:5432/postgres';
const RESULTS_DIR = fileURLToPath(new URL('./results/', import.meta.url));
/** Systems that store in PostgreSQL: a run with any of them measures the database's own commit latency (commit-floor.ts). */
const POSTGRES_SYSTEMS = new Set(['offload-pg', 'pg-boss', 'graphile-worker']);

interface RunSettings {
  readonly sizes: Sizes;
  readonly limits: WaitLimits;
  readonly opTimeoutMs: number;
}

function settingsFor(options: CliOptions): RunSettings {
  return options.quick
    ? { sizes: QUICK_SIZES, limits: { timeoutMs: 60_000, stallMs: 15_000, settleMs: 300 }, opTimeoutMs: 120_000 }
    : { sizes: FULL_SIZES, limits: { timeoutMs: 300_000, stallMs: 30_000, settleMs: 300 }, opTimeoutMs: 300_000 };
}

function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0] ?? 'unknown error';
}

/** One case, one system, one run, in a fresh host process that is killed afterwards. */
async function runOnce(
  systemResult: SystemResult,
  benchCase: BenchCase,
  run: number,
  receiver: ReceiverClient,
  receiverOrigin: string,
  settings: RunSettings,
): Promise<CaseRunResult> {
  const started = nowMs();
  const loadAtStart = Math.round((os.loadavg()[0] ?? 0) * 100) / 100;
  const tag = `r${randomBytes(4).toString('hex')}`;
  const scratchDir = await mkdtemp(path.join(tmpdir(), 'offload-bench-'));
  const host = spawnHost((line) => console.log(`    [${systemResult.name}] ${line}`));
  const env = { receiverOrigin, postgresAdminUrl: POSTGRES_ADMIN_URL, redisUrl: REDIS_URL, scratchDir, runTag: tag };
  try {
    await receiver.reset(tag);
    systemResult.description = await host.call('setup', {
      system: systemResult.name, channel: benchCase.channel(settings.sizes), env,
    }, settings.opTimeoutMs);
    const outcome = await benchCase.run({ host, receiver, tag, ...settings });
    const usage = await host.call('usage', {}, 10_000);
    return { run, ...outcome, usage, wallMs: nowMs() - started, loadAtStart };
  } catch (error) {
    const aborted = firstLine(error);
    return { run, measures: {}, failures: [aborted], wallMs: nowMs() - started, loadAtStart, aborted };
  } finally {
    await host.close(60_000).catch(() => undefined);
    await rm(scratchDir, { recursive: true, force: true });
  }
}

/**
 * A run that ended in an exception is tried once more, since a machine shared with
 * other work can lose a service for a moment; the report lists every such retry. A run
 * that finished with failed checks is never retried: its wrong answer stands.
 */
async function runWithRetry(...args: Parameters<typeof runOnce>): Promise<CaseRunResult> {
  const first = await runOnce(...args);
  if (first.aborted === undefined) return first;
  console.log(`  ${args[0].name} ${args[1].name} run ${args[2]} aborted (${first.aborted}); retrying once`);
  return { ...(await runOnce(...args)), retriedAfter: first.aborted };
}

function progressLine(system: string, benchCase: BenchCase, result: CaseRunResult, runs: number): string {
  const figures = benchCase.measures
    .map((m) => `${m.name} ${(result.measures[m.name] ?? Number.NaN).toFixed(m.unit === 'ms' ? 1 : 0)} ${m.unit}`)
    .join(', ');
  const status = result.failures.length > 0 ? `FAILED: ${result.failures.join('; ')}` : figures;
  const rss = result.usage ? `, rss ${(result.usage.maxRssKb / 1024).toFixed(0)} MiB` : '';
  const wall = (result.wallMs / 1000).toFixed(1);
  return `  ${system} ${benchCase.name} run ${result.run}/${runs}: ${status}${rss} (${wall} s, load ${result.loadAtStart})`;
}

function chooseSystems(options: CliOptions): string[] {
  const known = Object.keys(systemLoaders);
  const chosen = options.only ?? known;
  const unknown = chosen.filter((s) => !known.includes(s));
  if (unknown.length > 0) throw new Error(`unknown system(s) ${unknown.join(', ')}; known: ${known.join(', ')}`);
  // The baseline goes first so that its column leads the table.
  return [...chosen].sort((a, b) => Number(b === BASELINE_SYSTEM) - Number(a === BASELINE_SYSTEM));
}

async function main(): Promise<void> {
  const options = parseCliOptions(process.argv.slice(2));
  if (options.help) {
    console.log(USAGE);
    return;
  }
  const systems = chooseSystems(options);
  const settings = settingsFor(options);
  const cases = casesFor(options.scenarios, settings.sizes);
  const startedAt = new Date().toISOString();
  const machine = await describeMachine(REDIS_URL, POSTGRES_ADMIN_URL);
  console.log(`bench: ${systems.join(', ')} × ${cases.map((c) => c.name).join(', ')} × ${options.runs} run(s)`);
  const receiverProcess = await spawnReceiver();
  const receiver = createReceiverClient(receiverProcess.origin);
  const results: SystemResult[] = systems.map((name) => ({ name, cases: {} }));
  let commitFloor: CommitFloor | undefined;
  try {
    for (const benchCase of cases) {
      if (benchCase.scenario === 'latency' && systems.some((s) => POSTGRES_SYSTEMS.has(s))) {
        commitFloor = await measureCommitFloor(POSTGRES_ADMIN_URL, settings.sizes.latencyRatePerSec, settings.sizes.latencySeconds);
        console.log(`commit floor: PostgreSQL alone at ${commitFloor.ratePerSec}/s, p99 ${commitFloor.latency.p99.toFixed(1)} ms`);
      }
      const runsBySystem = new Map<string, CaseRunResult[]>(systems.map((s) => [s, []]));
      // Runs interleave across systems so that drift on the machine hits all of them.
      for (let run = 1; run <= options.runs; run += 1) {
        for (const systemResult of results) {
          const result = await runWithRetry(systemResult, benchCase, run, receiver, receiverProcess.origin, settings);
          console.log(progressLine(systemResult.name, benchCase, result, options.runs));
          runsBySystem.get(systemResult.name)?.push(result);
        }
      }
      for (const systemResult of results) {
        systemResult.cases[benchCase.name] = summarizeCase(benchCase, runsBySystem.get(systemResult.name) ?? []);
      }
    }
  } finally {
    receiverProcess.stop();
  }
  const output = {
    machine, startedAt, finishedAt: new Date().toISOString(), loadAtEnd: loadAverage(), baseline: BASELINE_SYSTEM, commitFloor,
    options: { quick: options.quick, runs: options.runs, scenarios: options.scenarios, sizes: settings.sizes },
    systems: results, ratios: computeRatios(results, BASELINE_SYSTEM),
  };
  const markdown = renderMarkdown(output);
  await mkdir(RESULTS_DIR, { recursive: true });
  await writeFile(path.join(RESULTS_DIR, `${options.out}.json`), `${JSON.stringify(output, null, 2)}\n`);
  await writeFile(path.join(RESULTS_DIR, `${options.out}.md`), `${markdown}\n`);
  console.log(`\n${markdown}\nwritten: bench/results/${options.out}.json, bench/results/${options.out}.md`);
}

process.on('exit', killAllChildren);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    killAllChildren();
    process.exit(130);
  });
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(`bench failed: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);
