import { spawnOffload, type OffloadProcess } from './processes.js';
import { between, sleep } from './timing.js';

/** Why an instance stopped: killed by the runner, or died on its own (which the run reports). */
export type CrashKind = 'sigkill' | 'unexpected-exit' | 'postgres-restart';

/** One crash as the history checker needs it, stamped on the receiver's clock. */
export interface CrashRecord {
  readonly kind: CrashKind;
  readonly instance?: string;
  /** The kill instant (or the moment an unexpected exit was noticed, or PostgreSQL went down). */
  readonly at: number;
  /** When the process was gone (or PostgreSQL was back). */
  readonly until: number;
  /** Exit code or signal, for unexpected exits. */
  readonly detail?: string;
}

export interface ClusterOptions {
  readonly size: number;
  readonly configPath: string;
  readonly serveArgs?: readonly string[];
  /** The receiver's clock, so kill instants compare with delivery intervals. */
  readonly now: () => number;
  readonly random: () => number;
  readonly onAlert?: (alert: string) => void;
  readonly log: (line: string) => void;
}

export interface Cluster {
  start(): Promise<void>;
  /** A random live instance's URL, or undefined while none is up. */
  pickUrl(): string | undefined;
  liveCount(): number;
  /** SIGKILLs one random live instance, waits a moment, starts it again on the same store. */
  killAndRestart(): Promise<void>;
  crashes(): readonly CrashRecord[];
  /** Restarts performed (after kills and unexpected exits). */
  restarts(): number;
  /** Records a store outage as a crash window (PostgreSQL restarts). */
  recordOutage(at: number, until: number): void;
  /** SIGTERM, then SIGKILL for whatever has not exited within `graceMs`. */
  stop(graceMs: number): Promise<void>;
  /** The last log lines of every instance, for a failure report. */
  logTails(): Record<string, string[]>;
}

/** Restart attempts before the run gives up (a store that stays down, a broken build). */
const START_ATTEMPTS = 10;

export function createCluster(options: ClusterOptions): Cluster {
  const slots: Array<OffloadProcess | undefined> = new Array<OffloadProcess | undefined>(options.size).fill(undefined);
  const intentional = new WeakSet<OffloadProcess>();
  const tails: Record<string, string[]> = {};
  const crashes: CrashRecord[] = [];
  let restarts = 0;
  let stopping = false;

  const start = async (index: number, attempts = START_ATTEMPTS): Promise<void> => {
    const name = `instance-${index + 1}`;
    const proc = await startWithRetries(name, options, attempts);
    slots[index] = proc;
    void proc.exited.then((code) => {
      tails[`${name} pid ${proc.pid}`] = proc.logTail();
      if (slots[index] === proc) slots[index] = undefined;
      if (intentional.has(proc) || stopping) return;
      // Nobody killed it: an Offload crash, worth reporting on its own. Restart it like a kill.
      const at = options.now();
      crashes.push({ kind: 'unexpected-exit', instance: name, at, until: at, detail: String(code) });
      options.log(`!! ${name} exited on its own (${code}); restarting. Last lines:\n${proc.logTail().slice(-15).join('\n')}`);
      restarts++;
      void start(index).catch((error: unknown) => options.log(`!! could not restart ${name}: ${(error as Error).message}`));
    });
  };

  return {
    // The first start is not retried: a configuration or store that cannot work should fail fast.
    start: async () => {
      await Promise.all(slots.map((_, index) => start(index, 1)));
    },
    pickUrl: () => {
      const live = slots.filter((p): p is OffloadProcess => p !== undefined && p.isAlive());
      return live.length === 0 ? undefined : live[Math.floor(options.random() * live.length)]!.url;
    },
    liveCount: () => slots.filter((p) => p?.isAlive()).length,
    killAndRestart: async () => {
      const live = slots.flatMap((p, index) => (p?.isAlive() ? [index] : []));
      if (live.length === 0) return;
      const index = live[Math.floor(options.random() * live.length)]!;
      const proc = slots[index]!;
      intentional.add(proc);
      const at = options.now();
      await proc.kill('SIGKILL');
      crashes.push({ kind: 'sigkill', instance: proc.name, at, until: options.now() });
      // A short, random downtime: producers must ride it out by retrying.
      await sleep(between(0, 1_000, options.random));
      if (stopping) return;
      restarts++;
      await start(index);
    },
    crashes: () => [...crashes],
    restarts: () => restarts,
    recordOutage: (at, until) => {
      crashes.push({ kind: 'postgres-restart', at, until });
    },
    stop: async (graceMs) => {
      stopping = true;
      const running = slots.filter((p): p is OffloadProcess => p !== undefined);
      await Promise.all(running.map((proc) => stopOne(proc, graceMs)));
    },
    logTails: () => {
      const result = { ...tails };
      for (const proc of slots) if (proc) result[`${proc.name} pid ${proc.pid}`] = proc.logTail();
      return result;
    },
  };
}

async function startWithRetries(name: string, options: ClusterOptions, attempts: number): Promise<OffloadProcess> {
  let lastError: unknown;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    try {
      return await spawnOffload({ name, configPath: options.configPath, args: options.serveArgs, onAlert: options.onAlert });
    } catch (error) {
      lastError = error;
      if (attempt === attempts) break;
      options.log(`!! ${name} did not start (attempt ${attempt}/${attempts}): ${firstLine(error)}`);
      await sleep(1_000);
    }
  }
  throw lastError;
}

async function stopOne(proc: OffloadProcess, graceMs: number): Promise<void> {
  const timer = setTimeout(() => void proc.kill('SIGKILL'), graceMs);
  await proc.kill('SIGTERM');
  clearTimeout(timer);
}

function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0] ?? '';
}
