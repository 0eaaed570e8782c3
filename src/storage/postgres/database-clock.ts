import type pg from 'pg';
import type { Clock } from '../../domain/clock.js';

/** How often the offset to the database's clock is measured again. */
const RESYNC_MS = 60_000;

export interface DatabaseClock extends Clock {
  /** Measures the offset now (the first call also starts the periodic re-measure). */
  sync(): Promise<void>;
  stop(): void;
}

/**
 * The database server's clock as seen from this process: the process clock plus an offset
 * measured against `clock_timestamp()`, half the round trip taken off, measured again every
 * minute. Every instance on one database stamps leases, retry times and delays on this one
 * timeline, so an instance whose host clock runs fast cannot take over another's lease early
 * (fencing stops a double settlement, not a double send). Until the first measurement, and
 * while measuring fails, the last known offset (at first 0) holds.
 */
export function createDatabaseClock(pool: pg.Pool, base: Clock): DatabaseClock {
  let offset = 0;
  let timer: NodeJS.Timeout | null = null;
  let stopped = false;

  async function measure(): Promise<void> {
    const sentAt = base.now();
    const { rows } = await pool.query<{ now: number }>('SELECT (extract(epoch FROM clock_timestamp()) * 1000)::float8 AS now');
    const receivedAt = base.now();
    offset = Math.round(rows[0]!.now - (sentAt + receivedAt) / 2);
  }

  return {
    now: () => base.now() + offset,
    async sync() {
      await measure();
      if (timer === null && !stopped) {
        timer = setInterval(() => void measure().catch(() => undefined), RESYNC_MS);
        timer.unref();
      }
    },
    stop() {
      stopped = true;
      if (timer !== null) clearInterval(timer);
      timer = null;
    },
  };
}
