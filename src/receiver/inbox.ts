/**
 * The inbox makes a handler's effects happen once per message even though Offload delivers at
 * least once. Its record of a message id commits in the same transaction as the handler's own
 * writes, so either both happen or neither does; a delivery whose id is recorded is answered 2xx
 * without running the handler again.
 */
export interface Inbox<Tx> {
  /**
   * Runs `work` in a transaction that also records `key`. When `key` is already recorded,
   * resolves `{ duplicate: true }` without running it. When `work` throws, nothing is recorded
   * and the error propagates. A second call with the same key while the first runs waits for
   * the first to commit or roll back: the two never both run.
   */
  run<T>(key: string, work: (tx: Tx) => Promise<T>): Promise<InboxResult<T>>;
  /** Deletes records older than the retention window; resolves how many went. */
  purge(): Promise<number>;
  /** Last applied lane positions, written in the handler's transaction (`inOrder` needs it). */
  lanes?: LaneLedger<Tx>;
}

/** Per lane, the position of the last message applied; read and written inside `run`'s transaction. */
export interface LaneLedger<Tx> {
  position(tx: Tx, lane: string): Promise<number | undefined>;
  advance(tx: Tx, lane: string, position: number): Promise<void>;
}

export type InboxResult<T> = { duplicate: true } | { duplicate: false; value: T };

export interface InboxOptions {
  /**
   * How long a message id is remembered, in seconds. Default 7 days. A redelivery after that
   * runs the handler again, so keep it above the longest time a message can wait in Offload
   * (retries, a parked key, a dead letter kept before a redrive).
   */
  retention?: number;
  /** Expired records are deleted at most this often (seconds), before a run. Default 60. */
  purgeInterval?: number;
  /** Clock in ms; tests pass a fake one. Default Date.now. */
  now?: () => number;
}

export const DEFAULT_RETENTION_SECONDS = 7 * 24 * 3600;

/** Calls `purge` when it has not run for `intervalMs`; shared by the adapters. */
export function createPurgeSchedule(options: InboxOptions, purge: (cutoffMs: number) => Promise<number>): { due(): Promise<void>; now(): number; cutoff(): number } {
  const now = options.now ?? Date.now;
  const retentionMs = (options.retention ?? DEFAULT_RETENTION_SECONDS) * 1000;
  const intervalMs = (options.purgeInterval ?? 60) * 1000;
  if (!(retentionMs > 0) || !Number.isFinite(retentionMs)) throw new RangeError('inbox retention must be a positive number of seconds');
  if (!(intervalMs >= 0) || !Number.isFinite(intervalMs)) throw new RangeError('inbox purgeInterval must be a number of seconds, 0 or more');
  let last = Number.NEGATIVE_INFINITY;
  return {
    now,
    cutoff: () => now() - retentionMs,
    async due() {
      if (now() - last < intervalMs) return;
      last = now();
      await purge(now() - retentionMs);
    },
  };
}
