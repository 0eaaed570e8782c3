import type { Cluster } from './cluster.js';
import { restartPostgres } from './postgres.js';
import { jitter, sleep } from './timing.js';

export interface CrasherOptions {
  readonly cluster: Cluster;
  /** Mean time between SIGKILLs; 0 for none. */
  readonly killEveryMs: number;
  /** PostgreSQL restarts spread evenly over `durationMs`. */
  readonly pgRestarts: number;
  readonly pgUrl: string;
  readonly durationMs: number;
  readonly random: () => number;
  readonly now: () => number;
  readonly log: (line: string) => void;
}

export interface Crasher {
  kills(): number;
  pgRestarts(): number;
  /** Stops scheduling crashes and waits for a restart under way to finish. */
  stop(): Promise<void>;
}

/** SIGKILLs random instances (each restarted on the same store) and restarts PostgreSQL. */
export function startCrasher(options: CrasherOptions): Crasher {
  const stopper = new AbortController();
  let kills = 0;
  let pgRestarts = 0;
  const killLoop = (async () => {
    if (options.killEveryMs <= 0) return;
    for (;;) {
      await sleep(jitter(options.killEveryMs, options.random), stopper.signal);
      if (stopper.signal.aborted) return;
      await options.cluster.killAndRestart();
      kills++;
    }
  })();
  const pgLoop = (async () => {
    const started = Date.now();
    for (let i = 1; i <= options.pgRestarts; i++) {
      const due = started + (options.durationMs * i) / (options.pgRestarts + 1);
      await sleep(due - Date.now(), stopper.signal);
      if (stopper.signal.aborted) return;
      options.log(`.. restarting PostgreSQL (${i}/${options.pgRestarts})`);
      const outage = await restartPostgres(options.pgUrl, options.now);
      options.cluster.recordOutage(outage.at, outage.until);
      pgRestarts++;
      options.log(`.. PostgreSQL answered again after ${Math.round(outage.until - outage.at)}ms`);
    }
  })();
  return {
    kills: () => kills,
    pgRestarts: () => pgRestarts,
    stop: async () => {
      stopper.abort();
      await Promise.all([killLoop, pgLoop]);
    },
  };
}
