import { parseArgs } from 'node:util';
import { parseDuration } from '../src/domain/duration.js';

export type StoreKind = 'sqlite' | 'postgres';

/** Everything a chaos run is parameterised by; every field documents its default. */
export interface ChaosOptions {
  /** How long producers send and instances get killed. Default 120s. */
  durationMs: number;
  /** Default `sqlite`. */
  store: StoreKind;
  /** Offload processes sharing the store. Default 1; more than 1 needs `postgres`. Default 3 with `postgres`. */
  instances: number;
  /** Seeds fault schedules, kill times and producer choices. Default: random, printed at start. */
  seed: number;
  /** Messages per second over all workloads while producing. Default 150. */
  rate: number;
  /** Mean time between SIGKILLs (jittered ±50%). Default 10s; 0 turns kills off. */
  killEveryMs: number;
  /** How many times PostgreSQL is restarted mid-run (`postgres` only). Default 2. */
  pgRestarts: number;
  /** PostgreSQL server for `postgres`. Default OFFLOAD_TEST_PG_URL or postgres://postgres@127.0.0.1:5432/test. */
  pgUrl: string;
  /** Longest wait, after producing stops, for every accepted message to be acknowledged. Default 90s. */
  drainTimeoutMs: number;
  /** How far before a kill a delivery may end and still count as in flight at it. Default 250ms. */
  crashMarginMs: number;
  /** Seconds between progress lines. Default 5s. */
  progressEveryMs: number;
  /** Keep the run's folder (config, logs, history) even when the verdict is clean. Default false. */
  keep: boolean;
}

const HELP = `usage: npm run chaos -- [options]

  --duration <d>        how long to produce and inject faults (default 120s)
  --store <s>           sqlite | postgres (default sqlite)
  --instances <n>       Offload processes sharing the store (postgres only; default 3 there, 1 on sqlite)
  --seed <n>            seed for faults, kills and producers (default random, printed)
  --rate <n>            messages per second over all workloads (default 150)
  --kill-every <d>      mean time between SIGKILLs, 0 for none (default 10s)
  --pg-restarts <n>     PostgreSQL restarts mid-run (postgres only; default 2)
  --pg-url <url>        PostgreSQL server (default $OFFLOAD_TEST_PG_URL or postgres://postgres@127.0.0.1:5432/test)
  --drain-timeout <d>   longest wait for every accepted message after producing stops (default 90s)
  --crash-margin <d>    a delivery ending this long before a kill still counts as in flight at it (default 250ms)
  --progress-every <d>  time between progress lines (default 5s)
  --keep                keep the run folder even when the verdict is clean
  --help                this text`;

/** Thrown for bad flags: the runner prints it with the usage and exits 2. */
export class UsageError extends Error {}

export function parseOptions(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): ChaosOptions | 'help' {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    options: {
      duration: { type: 'string' },
      store: { type: 'string' },
      instances: { type: 'string' },
      seed: { type: 'string' },
      rate: { type: 'string' },
      'kill-every': { type: 'string' },
      'pg-restarts': { type: 'string' },
      'pg-url': { type: 'string' },
      'drain-timeout': { type: 'string' },
      'crash-margin': { type: 'string' },
      'progress-every': { type: 'string' },
      keep: { type: 'boolean' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) return 'help';
  const store = storeOf(values.store ?? 'sqlite');
  const instances = count('instances', values.instances ?? (store === 'postgres' ? '3' : '1'), 1, 16);
  if (store === 'sqlite' && instances !== 1) {
    throw new UsageError('--instances > 1 needs --store postgres: on SQLite one process owns the file');
  }
  return {
    durationMs: duration('duration', values.duration ?? '120s', 5_000),
    store,
    instances,
    seed: values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : count('seed', values.seed, 0, 2 ** 31),
    rate: count('rate', values.rate ?? '150', 1, 5_000),
    killEveryMs: duration('kill-every', values['kill-every'] ?? '10s', 0),
    pgRestarts: store === 'postgres' ? count('pg-restarts', values['pg-restarts'] ?? '2', 0, 5) : 0,
    pgUrl: values['pg-url'] ?? env.OFFLOAD_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
    drainTimeoutMs: duration('drain-timeout', values['drain-timeout'] ?? '90s', 1_000),
    crashMarginMs: duration('crash-margin', values['crash-margin'] ?? '250ms', 0),
    progressEveryMs: duration('progress-every', values['progress-every'] ?? '5s', 500),
    keep: values.keep ?? false,
  };
}

export { HELP as USAGE };

function storeOf(value: string): StoreKind {
  if (value === 'sqlite' || value === 'postgres') return value;
  throw new UsageError(`--store is sqlite or postgres, not '${value}'`);
}

function duration(flag: string, value: string, min: number): number {
  const ms = parseDuration(/^\d+$/.test(value) ? `${value}s` : value);
  if (ms === undefined || ms < min) throw new UsageError(`--${flag} '${value}' is not a duration of at least ${min}ms (write 90s, 2m, 500ms)`);
  return ms;
}

function count(flag: string, value: string, min: number, max: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`--${flag} '${value}' is not a whole number from ${min} to ${max}`);
  return n;
}
