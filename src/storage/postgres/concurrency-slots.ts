import type pg from 'pg';
import type { Clock } from '../../domain/clock.js';
import type { SlotGrant, SlotHolder, SlotShare, Store } from '../port.js';
import { guard, run } from './connection.js';
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
    take: st('cs_take', (s) => `SELECT granted, total, waiting, owners FROM ${s}.take_concurrency_slots($1, $2, $3::int, $4::int, $5::int, $6::bigint, $7::bigint)`),
    hold: st('cs_hold', (s) => `SELECT total, waiting, owners FROM ${s}.hold_concurrency_slots($1, $2::text[], $3::int[], $4::int[], $5::bigint, $6::bigint)`),
    list: st('cs_list', (s) => `SELECT key, owner, held, wanted, expires_at AS "expiresAt" FROM ${s}.concurrency_slots WHERE expires_at > $1::bigint ORDER BY key, owner`),
  };
}

export const CONCURRENCY_SLOTS_MIGRATION = `
-- One row per endpoint with a shared concurrency limit: what a take locks.
CREATE UNLOGGED TABLE concurrency_keys (
  key TEXT COLLATE "C" PRIMARY KEY
);
-- Slots of each instance (owner): held, and wanted but not granted at its latest take, until
-- expires_at unless renewed: a crashed instance's slots free themselves. A row holding and
-- wanting nothing is removed.
CREATE UNLOGGED TABLE concurrency_slots (
  key TEXT COLLATE "C" NOT NULL,
  owner TEXT COLLATE "C" NOT NULL,
  held INTEGER NOT NULL CHECK (held >= 0),
  wanted INTEGER NOT NULL CHECK (wanted >= 0),
  expires_at BIGINT NOT NULL,
  PRIMARY KEY (key, owner)
);
-- How p_key is shared among live owners, from p_owner's side (its own row as given).
CREATE FUNCTION concurrency_share(p_key TEXT, p_owner TEXT, p_held INTEGER, p_wanted INTEGER, p_now BIGINT, OUT total INTEGER, OUT waiting INTEGER, OUT owners INTEGER)
LANGUAGE sql STABLE SET search_path FROM CURRENT AS $fn$
  SELECT (COALESCE(SUM(s.held), 0) + p_held)::int, COALESCE(SUM(s.wanted), 0)::int, (COUNT(*) + CASE WHEN p_held + p_wanted > 0 THEN 1 ELSE 0 END)::int
  FROM concurrency_slots s WHERE s.key = p_key AND s.owner <> p_owner AND s.expires_at > p_now
$fn$;
-- Grants up to p_count more slots to p_owner (holding p_held) while the live holds of p_key stay
-- within p_limit. The key's row is locked first; the sum is read in a later statement, with a
-- snapshot that sees every take committed before the lock was granted.
CREATE FUNCTION take_concurrency_slots(p_key TEXT, p_owner TEXT, p_held INTEGER, p_count INTEGER, p_limit INTEGER, p_now BIGINT, p_expires BIGINT)
RETURNS TABLE (granted INTEGER, total INTEGER, waiting INTEGER, owners INTEGER)
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
  IF p_held + p_count > 0 THEN
    INSERT INTO concurrency_slots AS s (key, owner, held, wanted, expires_at) VALUES (p_key, p_owner, p_held + v_granted, p_count - v_granted, p_expires)
    ON CONFLICT (key, owner) DO UPDATE SET held = EXCLUDED.held, wanted = EXCLUDED.wanted, expires_at = EXCLUDED.expires_at;
  ELSE
    DELETE FROM concurrency_slots s WHERE s.key = p_key AND s.owner = p_owner;
  END IF;
  RETURN QUERY SELECT v_granted, c.total, c.waiting, c.owners FROM concurrency_share(p_key, p_owner, p_held + v_granted, p_count - v_granted, p_now) c;
END $fn$;
-- Sets what p_owner holds and wants of each key and extends its holds; a row holding and wanting
-- nothing is removed. One row per key given, in order, with how the key is shared now.
CREATE FUNCTION hold_concurrency_slots(p_owner TEXT, p_keys TEXT[], p_held INTEGER[], p_wanted INTEGER[], p_now BIGINT, p_expires BIGINT)
RETURNS TABLE (ord INTEGER, total INTEGER, waiting INTEGER, owners INTEGER)
LANGUAGE plpgsql VOLATILE SET search_path FROM CURRENT AS $fn$
BEGIN
  PERFORM set_config('synchronous_commit', 'off', true);
  INSERT INTO concurrency_slots AS s (key, owner, held, wanted, expires_at)
  SELECT h.key, p_owner, h.held, h.wanted, p_expires FROM unnest(p_keys, p_held, p_wanted) AS h(key, held, wanted)
  ON CONFLICT (key, owner) DO UPDATE SET held = EXCLUDED.held, wanted = EXCLUDED.wanted, expires_at = EXCLUDED.expires_at;
  DELETE FROM concurrency_slots s WHERE s.owner = p_owner AND s.key = ANY(p_keys) AND s.held = 0 AND s.wanted = 0;
  RETURN QUERY SELECT h.ord::int, c.total, c.waiting, c.owners
    FROM unnest(p_keys, p_held, p_wanted) WITH ORDINALITY AS h(key, held, wanted, ord)
    CROSS JOIN LATERAL concurrency_share(h.key, p_owner, h.held, h.wanted, p_now) c
    ORDER BY h.ord;
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
        const [row] = await run<SlotGrant>(pool, sql.take, values, true);
        return { granted: row!.granted, total: row!.total, waiting: row!.waiting, owners: row!.owners };
      }),
    holdConcurrencySlots: (owner, holdings, ttlMs) =>
      guard(async () => {
        if (holdings.length === 0) return [];
        await ready();
        // One row per key (the last given wins): an upsert may not touch a row twice.
        const byKey = new Map(holdings.map((h) => [h.key, h]));
        const keys = [...byKey.keys()];
        const whole = (n: number) => Math.max(0, Math.floor(n));
        const now = clock.now();
        const values = [owner, keys, [...byKey.values()].map((h) => whole(h.held)), [...byKey.values()].map((h) => whole(h.wanted)), now, now + ttlMs];
        const rows = await run<SlotShare>(pool, sql.hold, values, true);
        const byName = new Map(keys.map((key, i) => [key, rows[i]!]));
        return holdings.map((h) => {
          const { total, waiting, owners } = byName.get(h.key)!;
          return { total, waiting, owners };
        });
      }),
    listConcurrencySlots: () =>
      guard(async () => {
        await ready();
        return run<SlotHolder>(pool, sql.list, [clock.now()], true);
      }),
  };
}
