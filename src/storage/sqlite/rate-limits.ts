import type { Database as Db } from 'better-sqlite3';
import type { Clock } from '../../domain/clock.js';
import { returnPermits, takePermits } from '../../domain/rate-limit.js';
import type { Store } from '../port.js';

/** Endpoint rate limits (src/domain/rate-limit.ts): the bucket state is one row per limit, read and written in one transaction. */
export function createRateLimits(db: Db, clock: Clock): Pick<Store, 'takeRatePermits' | 'returnRatePermits'> {
  const read = db.prepare('SELECT tat FROM rate_limits WHERE key = ?');
  const write = db.prepare('INSERT INTO rate_limits (key, tat) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET tat = excluded.tat');
  const take = db.transaction((key: string, limit: Parameters<Store['takeRatePermits']>[1], count: number) => {
    const row = read.get(key) as { tat: number } | undefined;
    const result = takePermits(row?.tat ?? null, clock.now(), limit, Math.max(0, Math.floor(count)));
    write.run(key, result.tat);
    return { granted: result.granted, waitMs: result.waitMs, token: result.tat };
  });
  const giveBack = db.transaction((key: string, limit: Parameters<Store['takeRatePermits']>[1], count: number, token: number): boolean => {
    const row = read.get(key) as { tat: number } | undefined;
    if (row?.tat !== token) return false;
    write.run(key, returnPermits(row.tat, limit, count));
    return true;
  });
  return {
    async takeRatePermits(key, limit, count) {
      return take.immediate(key, limit, count);
    },
    async returnRatePermits(key, limit, count, token) {
      return count > 0 && giveBack.immediate(key, limit, Math.floor(count), token);
    },
  };
}

export const RATE_LIMITS_MIGRATION = `
CREATE TABLE rate_limits (
  key TEXT PRIMARY KEY,
  -- Theoretical arrival time of the next call, epoch ms (fractional).
  tat REAL NOT NULL
) WITHOUT ROWID;
`;
