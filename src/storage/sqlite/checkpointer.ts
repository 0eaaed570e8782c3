import type { Database as Db } from 'better-sqlite3';
import { statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/**
 * WAL checkpoints off the event loop. SQLite copies the WAL back into the database file when the
 * log passes 1,000 pages (1 MB with the store's 1 KB pages), in the connection that commits, and with `synchronous = NORMAL`
 * it syncs the log and then the database file while doing so: on the one connection the event
 * loop uses, every send, claim and answer waits behind those writes and two fsyncs. At 500
 * sends/s that was a pause every tenth of a second, and most of the p99 and the worst cases of
 * enqueue-to-receipt latency.
 *
 * Once a store's log first grows past half that size (a store that stays small never needs this), a
 * worker thread opens its own connection to the file and runs a PASSIVE checkpoint every
 * `intervalMs`: it copies what has been committed without blocking the writer. Every
 * `restartPages` of log it makes the log start over (below). The store's connection keeps an
 * automatic checkpoint only as a backstop, at a much larger log, in case the worker falls
 * behind; if the worker fails, the default comes back.
 */
export interface Checkpointer {
  /** Stops the worker (its last checkpoint finishes first). */
  close(): Promise<void>;
}

export interface CheckpointerOptions {
  /**
   * Log size (pages) at which the worker starts. Default 500: half of the 1,000 pages at which
   * the store's own connection checkpoints, so the log gets there before the first of those.
   */
  startAtPages?: number;
  /** How often the worker checkpoints. Default 200 ms. */
  intervalMs?: number;
  /**
   * Log size (pages) at which the worker makes the log start over. Default 65,536 (64 MB of 1 KB
   * pages): the RESTART holds the writer back for two fsyncs, so it should come seldom (at 500
   * single sends/s, once every 5 s; every 1.3 s at 16,384 pages put the p99 at 11 to 16 ms).
   */
  restartPages?: number;
  /** How often the store looks at its log's size until the worker has started. Default 1 s. */
  watchMs?: number;
  /** The store's automatic checkpoint while the worker runs, in pages. Default 100,000 (100 MB of 1 KB pages). */
  backstopPages?: number;
  /** A failure of the worker (the store falls back to checkpointing itself). */
  onError?: (error: unknown) => void;
}

/** SQLite's default wal_autocheckpoint, in pages. */
const DEFAULT_AUTOCHECKPOINT = 1000;

/**
 * The worker: CommonJS, given the path of better-sqlite3 as the store resolved it. A PASSIVE
 * checkpoint never waits, but under a steady stream of commits it rarely finds the log with
 * nothing new, and SQLite starts the log over only after a checkpoint that caught up: so once
 * the log holds `restartFrames`, a RESTART checkpoint holds the writer back (the store's
 * connection waits in its busy handler) while it copies the little the PASSIVE ones left, and the
 * next commit starts the log from the beginning.
 */
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.path);
db.pragma('busy_timeout = ' + workerData.busyMs);
const checkpoint = (mode) => {
  try {
    return db.pragma('wal_checkpoint(' + mode + ')')[0];
  } catch (error) {
    // SQLITE_BUSY: another connection is checkpointing; the next turn tries again.
    if (!error || error.code !== 'SQLITE_BUSY') parentPort.postMessage({ error: String((error && error.message) || error) });
    return null;
  }
};
const run = () => {
  const passive = checkpoint('PASSIVE');
  if (passive && passive.log >= workerData.restartFrames) checkpoint('RESTART');
};
const timer = setInterval(run, workerData.intervalMs);
parentPort.on('message', (message) => {
  if (message !== 'close') return;
  clearInterval(timer);
  db.close();
  parentPort.close();
});
`;

export function createCheckpointer(db: Db, path: string, options: CheckpointerOptions = {}): Checkpointer {
  const startAt = (options.startAtPages ?? 500) * (db.pragma('page_size', { simple: true }) as number);
  const walPath = `${path}-wal`;
  let worker: Worker | null = null;
  let closed = false;

  const fallBack = (error: unknown) => {
    options.onError?.(error);
    if (!closed) db.pragma(`wal_autocheckpoint = ${DEFAULT_AUTOCHECKPOINT}`);
  };

  function start(): void {
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    const started = new Worker(WORKER, { eval: true, workerData: { driver, path, intervalMs: options.intervalMs ?? 200, restartFrames: options.restartPages ?? 65_536, busyMs: 1_000 } });
    started.unref();
    started.on('message', (message: { error?: string }) => {
      if (message.error) options.onError?.(new Error(`WAL checkpoint failed: ${message.error}`));
    });
    started.on('error', fallBack);
    started.on('exit', (code) => {
      if (worker === started) worker = null;
      if (code !== 0 && !closed) fallBack(new Error(`the WAL checkpoint worker exited with code ${code}`));
    });
    worker = started;
    db.pragma(`wal_autocheckpoint = ${options.backstopPages ?? 100_000}`);
  }

  const watch = setInterval(() => {
    let size: number;
    try {
      size = statSync(walPath).size;
    } catch {
      return;
    }
    if (size < startAt) return;
    clearInterval(watch);
    try {
      start();
    } catch (error) {
      fallBack(error);
    }
  }, options.watchMs ?? 1_000);
  watch.unref();

  return {
    async close() {
      closed = true;
      clearInterval(watch);
      const running = worker;
      worker = null;
      if (!running) return;
      const exited = new Promise<void>((resolve) => running.once('exit', () => resolve()));
      // Unreferenced, the worker would not keep the process alive until it exits: a program whose
      // last step is closing the store ended there, leaving the close (and what follows) undone.
      running.ref();
      running.postMessage('close');
      await exited;
    },
  };
}
