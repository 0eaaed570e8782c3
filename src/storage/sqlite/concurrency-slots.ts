import type { Database as Db } from 'better-sqlite3';
import type { Clock } from '../../domain/clock.js';
import type { SlotHolder, SlotHolding, SlotRequest, SlotShare, Store } from '../port.js';

/**
 * Endpoint concurrency shared by every process on the file: one row per (endpoint, owner) with the
 * slots that owner holds, those it wanted and did not get, and when its hold expires. A take is
 * one immediate transaction, so the sum it reads is the sum it writes against.
 */
export function createConcurrencySlots(db: Db, clock: Clock): Pick<Store, 'takeConcurrencySlots' | 'holdConcurrencySlots' | 'listConcurrencySlots'> {
  const dropExpired = db.prepare('DELETE FROM concurrency_slots WHERE key = ? AND expires_at <= ?');
  const others = db.prepare(
    `SELECT COALESCE(SUM(held), 0) AS held, COALESCE(SUM(wanted), 0) AS wanted, COUNT(*) AS owners
     FROM concurrency_slots WHERE key = ? AND owner <> ? AND expires_at > ?`,
  );
  const upsert = db.prepare(
    `INSERT INTO concurrency_slots (key, owner, held, wanted, expires_at) VALUES (?, ?, ?, ?, ?)
     ON CONFLICT (key, owner) DO UPDATE SET held = excluded.held, wanted = excluded.wanted, expires_at = excluded.expires_at`,
  );
  const removeIdle = db.prepare('DELETE FROM concurrency_slots WHERE key = ? AND owner = ? AND held = 0 AND wanted = 0');
  const live = db.prepare('SELECT key, owner, held, wanted, expires_at AS expiresAt FROM concurrency_slots WHERE expires_at > ? ORDER BY key, owner');

  type Others = { held: number; wanted: number; owners: number };
  const share = (o: Others, held: number, wanted: number): SlotShare => ({ total: o.held + held, waiting: o.wanted, owners: o.owners + (held + wanted > 0 ? 1 : 0) });

  const take = db.transaction((request: SlotRequest) => {
    const now = clock.now();
    const held = Math.max(0, Math.floor(request.held));
    const count = Math.max(0, Math.floor(request.count));
    dropExpired.run(request.key, now);
    const o = others.get(request.key, request.owner, now) as Others;
    const granted = Math.max(0, Math.min(count, Math.floor(request.limit) - o.held - held));
    upsert.run(request.key, request.owner, held + granted, count - granted, now + request.ttlMs);
    removeIdle.run(request.key, request.owner);
    return { granted, ...share(o, held + granted, count - granted) };
  });
  const holdAll = db.transaction((owner: string, holdings: readonly SlotHolding[], ttlMs: number) => {
    const now = clock.now();
    return holdings.map((h) => {
      const held = Math.max(0, Math.floor(h.held));
      const wanted = Math.max(0, Math.floor(h.wanted));
      upsert.run(h.key, owner, held, wanted, now + ttlMs);
      removeIdle.run(h.key, owner);
      return share(others.get(h.key, owner, now) as Others, held, wanted);
    });
  });
  return {
    async takeConcurrencySlots(request) {
      return take.immediate(request);
    },
    async holdConcurrencySlots(owner, holdings, ttlMs) {
      return holdings.length > 0 ? holdAll.immediate(owner, holdings, ttlMs) : [];
    },
    async listConcurrencySlots() {
      return live.all(clock.now()) as SlotHolder[];
    },
  };
}

export const CONCURRENCY_SLOTS_MIGRATION = `
-- Endpoint concurrency slots of each instance (owner) on the file: held, and wanted but not
-- granted at its latest take, until expires_at unless renewed: a crashed instance's slots free
-- themselves. A row holding and wanting nothing is removed.
CREATE TABLE concurrency_slots (
  key TEXT NOT NULL,
  owner TEXT NOT NULL,
  held INTEGER NOT NULL CHECK (held >= 0),
  wanted INTEGER NOT NULL CHECK (wanted >= 0),
  expires_at INTEGER NOT NULL,
  PRIMARY KEY (key, owner)
) WITHOUT ROWID;
`;
