import { open } from 'node:fs/promises';

/**
 * Group commit for SQLite. Transactions commit with `synchronous = NORMAL` (written to the WAL,
 * not yet flushed), then callers that need durability wait for an fdatasync of the WAL file run
 * on libuv's thread pool. One flush covers every commit before it, and the event loop keeps
 * delivering while the disk works. SQLite itself syncs the WAL before any checkpoint, so a
 * commit that a checkpoint moved into the database file is durable too.
 */
export interface WalSync {
  /** Resolves once every transaction committed before the call is on disk. */
  sync(): Promise<void>;
}

export function createWalSync(databasePath: string): WalSync {
  const walPath = `${databasePath}-wal`;
  let running: Promise<void> | null = null;
  let next: Promise<void> | null = null;

  async function flush(): Promise<void> {
    // Opened per flush: SQLite may recreate the WAL file, and a stale descriptor would sync nothing.
    const handle = await open(walPath, 'r');
    try {
      await handle.datasync();
    } finally {
      await handle.close();
    }
  }

  function start(): Promise<void> {
    const current = flush().finally(() => {
      running = null;
    });
    running = current;
    return current;
  }

  return {
    sync() {
      if (!running) return start();
      // A flush already under way may have started before our commit: wait for the one after it.
      if (!next) {
        next = running.catch(() => undefined).then(() => {
          next = null;
          return start();
        });
      }
      return next;
    },
  };
}
