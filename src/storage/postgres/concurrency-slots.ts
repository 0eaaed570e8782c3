import type pg from 'pg';
import type { Clock } from '../../domain/clock.js';
import type { SlotHolder, Store } from '../port.js';
import { execute, guard, run } from './connection.js';
import { statementFactory } from './statements.js';

/**
 * Endpoint concurrency shared by every instance on the schema: one row per (endpoint, owner) with
 * the slots that owner holds and when its hold expires, on the store's clock (the database's, so
 * instances agree). A take is one call of take_concurrency_slots (migration 14), which locks the
 * endpoint's row in concurrency_keys before it sums the live holds: takes of one endpoint queue on
 * that lock, and each statement of the function takes a new snapshot under READ COMMITTED, so the
 * sum includes every take that committed before. Both tables are UNLOGGED (nothing waits for a WAL
 * flush); after a database crash they start empty and every instance's next renewal writes back
 * what it holds.
 */
export function concurrencySlotStatements(schema: string) {
  const st = statementFactory(schema);
  return {
    take: st('cs_take', (s) => `SELECT granted, total FROM ${s}.take_concurrency_slots($1, $2, $3::int, $4::int, $5::int, $6::bigint, $7::bigint)`),
    // $1 owner, $2 keys, $3 held per key, $4 expires_at.
    hold: st('cs_hold', (s) => `WITH h AS (SELECT * FROM unnest($2::text[], $3::int[]) AS h(key, held)),
      gone AS (DELETE FROM ${s}.concurrency_slots c USING h WHERE c.key = h.key AND c.owner = $1 AND h.held <= 0)
      INSERT INTO ${s}.concurrency_slots (key, owner, held, expires_at) SELECT key, $1, held, $4::bigint FROM h WHERE held > 0
      ON CONFLICT (key, owner) DO UPDATE SET held = EXCLUDED.held, expires_at = EXCLUDED.expires_at`),
    list: st('cs_list', (s) => `SELECT key, owner, held, expires_at AS "expiresAt" FROM ${s}.concurrency_slots WHERE expires_at > $1::bigint ORDER BY key, owner`),
  };
}

export const CONCURRENCY_SLOTS_MIGRATION = `
-- One row per endpoint with a shared concurrency limit: what a take locks.
CREATE UNLOGGED TABLE concurrency_keys (
  key TEXT COLLATE "C" PRIMARY KEY
);
-- Slots each instance (owner) holds, until expires_at unless renewed: a crashed instance's slots
-- free themselves.
CREATE UNLOGGED TABLE concurrency_slots (
  key TEXT COLLATE "C" NOT NULL,
  owner TEXT COLLATE "C" NOT NULL,
  held INTEGER NOT NULL CHECK (held > 0),
  expires_at BIGINT NOT NULL,
  PRIMARY KEY (key, owner)
);
-- Grants up to p_count more slots to p_owner (holding p_held) while the live holds of p_key stay
-- within p_limit. The key's row is locked first; the sum is read in a later statement, with a
-- snapshot that sees every take committed before the lock was granted.
CREATE FUNCTION take_concurrency_slots(p_key TEXT, p_owner TEXT, p_held INTEGER, p_count INTEGER, p_limit INTEGER, p_now BIGINT, p_expires BIGINT)
RETURNS TABLE (granted INTEGER, total INTEGER)
LANGUAGE plpgsql VOLATILE SET search_path FROM CURRENT AS $fn$
DECLARE
  v_others INTEGER;
  v_granted INTEGER;
BEGIN
  PERFORM set_config('synchronous_commit', 'off', true);
  INSERT INTO concurrency_keys (key) VALUES (p_key) ON CONFLICT (key) DO NOTHING;
  PERFORM 1 FROM concurrency_keys k WHERE k.key = p_key FOR UPDATE;
  DELETE FROM concurrency_slots s WHERE s.key = p_key AND s.expires_at <= p_now;
  SELECT COALESCE(SUM(s.held), 0) INTO v_others FROM concurrency_slots s WHERE s.key = p_key AND s.owner <> p_owner;
  v_granted := GREATEST(0, LEAST(p_count, p_limit - v_others - p_held));
  IF p_held + v_granted > 0 THEN
    INSERT INTO concurrency_slots AS s (key, owner, held, expires_at) VALUES (p_key, p_owner, p_held + v_granted, p_expires)
    ON CONFLICT (key, owner) DO UPDATE SET held = EXCLUDED.held, expires_at = EXCLUDED.expires_at;
  ELSE
    DELETE FROM concurrency_slots s WHERE s.key = p_key AND s.owner = p_owner;
  END IF;
  RETURN QUERY SELECT v_granted, v_others + p_held + v_granted;
END $fn$;
`;

export function createConcurrencySlots(pool: pg.Pool, schema: string, clock: Clock, ready: () => Promise<void>): Pick<Store, 'takeConcurrencySlots' | 'holdConcurrencySlots' | 'listConcurrencySlots'> {
  const sql = concurrencySlotStatements(schema);
  return {
    takeConcurrencySlots: (request) =>
      guard(async () => {
        await ready();
        const now = clock.now();
        const held = Math.max(0, Math.floor(request.held));
        const values = [request.key, request.owner, held, Math.max(0, Math.floor(request.count)), Math.floor(request.limit), now, now + request.ttlMs];
        const [row] = await run<{ granted: number; total: number }>(pool, sql.take, values, true);
        return { granted: row!.granted, total: row!.total };
      }),
    holdConcurrencySlots: (owner, holdings, ttlMs) =>
      guard(async () => {
        if (holdings.length === 0) return;
        await ready();
        // One row per key (the last given wins): an upsert may not touch a row twice.
        const byKey = new Map(holdings.map((h) => [h.key, Math.max(0, Math.floor(h.held))]));
        await execute(pool, sql.hold, [owner, [...byKey.keys()], [...byKey.values()], clock.now() + ttlMs], true);
      }),
    listConcurrencySlots: () =>
      guard(async () => {
        await ready();
        return run<SlotHolder>(pool, sql.list, [clock.now()], true);
      }),
  };
}
