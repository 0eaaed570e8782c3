import type pg from 'pg';
import { rateInterval, type RateLimit } from '../../domain/rate-limit.js';
import type { Store } from '../port.js';
import { execute, guard, run } from './connection.js';
import { statementFactory } from './statements.js';

/**
 * Endpoint rate limits shared by every instance (src/domain/rate-limit.ts, in SQL). A take is one
 * statement: the upsert locks the limit's row, so concurrent takes from any instance queue on it
 * and each sees the state the previous one left. Time is the database's clock, the one clock
 * every instance shares. The table is UNLOGGED: a take never waits for a WAL flush, and after a
 * database crash the buckets simply start full again.
 */
export function rateLimitStatements(schema: string) {
  const st = statementFactory(schema);
  // $1 key, $2 interval ms, $3 burst, $4 permits wanted. `now` travels in EXCLUDED.updated_at.
  // Differences first (see takePermits): epoch ms lose fractions when an interval is added to them.
  // The base is max(tat, now), at most now + burst × interval (see takePermits): now - base is min(now - tat, 0), at least -burst × interval.
  const base = `LEAST(GREATEST(r.tat, EXCLUDED.updated_at), EXCLUDED.updated_at + $3::float8 * $2::float8)`;
  const granted = `GREATEST(0, LEAST($4::int, FLOOR(GREATEST(LEAST(EXCLUDED.updated_at - r.tat, 0), -$3::float8 * $2::float8) / $2::float8 + $3::float8 + 1e-6)))`;
  return {
    take: st('rl_take', (s) => `INSERT INTO ${s}.rate_limits AS r (key, tat, granted, updated_at)
      SELECT $1, c.now + LEAST($4::int, FLOOR($3::float8 + 1e-6)) * $2::float8, LEAST($4::int, FLOOR($3::float8 + 1e-6)), c.now
      FROM (SELECT EXTRACT(EPOCH FROM clock_timestamp())::float8 * 1000 AS now) c
      ON CONFLICT (key) DO UPDATE SET
        granted = ${granted},
        tat = ${base} + ${granted} * $2::float8,
        updated_at = EXCLUDED.updated_at
      RETURNING tat, granted::int AS granted, updated_at AS now`),
    // Only while the bucket is as that take left it ($4): see returnPermits.
    giveBack: st('rl_give_back', (s) => `UPDATE ${s}.rate_limits SET tat = tat - $2::float8 * $3::int WHERE key = $1 AND tat = $4::float8`),
  };
}

export const RATE_LIMITS_MIGRATION = `
CREATE UNLOGGED TABLE rate_limits (
  key TEXT COLLATE "C" PRIMARY KEY,
  -- Theoretical arrival time of the next call, epoch ms (fractional), database clock.
  tat DOUBLE PRECISION NOT NULL,
  granted INTEGER NOT NULL,
  updated_at DOUBLE PRECISION NOT NULL
);
`;

export function createRateLimits(pool: pg.Pool, schema: string, ready: () => Promise<void>): Pick<Store, 'takeRatePermits' | 'returnRatePermits'> {
  const sql = rateLimitStatements(schema);
  return {
    takeRatePermits: (key, limit, count) =>
      guard(async () => {
        await ready();
        const interval = rateInterval(limit);
        const [row] = await run<{ tat: number; granted: number; now: number }>(pool, sql.take, [key, interval, limit.burst, Math.max(0, Math.floor(count))], true);
        const { tat, granted, now } = row!;
        return { granted, waitMs: granted < count ? waitFor(tat, now, limit) : 0, token: tat };
      }),
    returnRatePermits: (key, limit, count, token) =>
      guard(async () => {
        if (count <= 0) return false;
        await ready();
        return (await execute(pool, sql.giveBack, [key, rateInterval(limit), Math.floor(count), token], true)) > 0;
      }),
  };
}

function waitFor(tat: number, now: number, limit: RateLimit): number {
  const interval = rateInterval(limit);
  return Math.max(1, Math.ceil(tat - now + interval - limit.burst * interval));
}
