import { open, type FileHandle } from 'node:fs/promises';

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
  /** Closes the WAL file's descriptor (after the last sync). */
  close(): Promise<void>;
}

/**
 * The WAL file is opened at the first flush and kept open: SQLite removes or replaces it only
 * when the last connection to the database closes, and the store's own connection stays open
 * until close(). A checkpoint that restarts or truncates the log writes the same file.
 */
export function createWalSync(databasePath: string): WalSync {
  const walPath = `${databasePath}-wal`;
  let running: Promise<void> | null = null;
  let next: Promise<void> | null = null;
  let file: Promise<FileHandle> | null = null;
  let closed = false;

  async function flush(): Promise<void> {
    // Closing the database checkpoints the log into the database file and syncs it.
    if (closed) return;
    file ??= open(walPath, 'r');
    const handle = await file.catch((error: unknown) => {
      file = null;
      throw error;
    });
    await handle.datasync();
  }

  function start(): Promise<void> {
    const current = flush().finally(() => {
      running = null;
    });
    running = current;
    return current;
  }

  return {
    async close() {
      closed = true;
      const opened = file;
      file = null;
      await running?.catch(() => undefined);
      await (await opened?.catch(() => null))?.close();
    },
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
