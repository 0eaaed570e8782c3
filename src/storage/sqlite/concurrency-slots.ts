import type { Database as Db } from 'better-sqlite3';
import type { Clock } from '../../domain/clock.js';
import type { SlotHolder, SlotRequest, Store } from '../port.js';

/**
 * Endpoint concurrency shared by every process on the file: one row per (endpoint, owner) with the
 * slots that owner holds and when its hold expires. A take is one immediate transaction, so the
 * sum it reads is the sum it writes against.
 */
export function createConcurrencySlots(db: Db, clock: Clock): Pick<Store, 'takeConcurrencySlots' | 'holdConcurrencySlots' | 'listConcurrencySlots'> {
  const dropExpired = db.prepare('DELETE FROM concurrency_slots WHERE key = ? AND expires_at <= ?');
  const others = db.prepare('SELECT COALESCE(SUM(held), 0) AS held FROM concurrency_slots WHERE key = ? AND owner <> ?').pluck();
  const upsert = db.prepare(
    'INSERT INTO concurrency_slots (key, owner, held, expires_at) VALUES (?, ?, ?, ?) ON CONFLICT (key, owner) DO UPDATE SET held = excluded.held, expires_at = excluded.expires_at',
  );
  const remove = db.prepare('DELETE FROM concurrency_slots WHERE key = ? AND owner = ?');
  const live = db.prepare('SELECT key, owner, held, expires_at AS expiresAt FROM concurrency_slots WHERE expires_at > ? ORDER BY key, owner');

  const write = (key: string, owner: string, held: number, expiresAt: number) => (held > 0 ? upsert.run(key, owner, held, expiresAt) : remove.run(key, owner));
  const take = db.transaction((request: SlotRequest) => {
    const now = clock.now();
    const held = Math.max(0, Math.floor(request.held));
    dropExpired.run(request.key, now);
    const taken = others.get(request.key, request.owner) as number;
    const granted = Math.max(0, Math.min(Math.floor(request.count), Math.floor(request.limit) - taken - held));
    write(request.key, request.owner, held + granted, now + request.ttlMs);
    return { granted, total: taken + held + granted };
  });
  const hold = db.transaction((owner: string, holdings: ReadonlyArray<{ key: string; held: number }>, ttlMs: number) => {
    const expiresAt = clock.now() + ttlMs;
    for (const h of holdings) write(h.key, owner, Math.max(0, Math.floor(h.held)), expiresAt);
  });
  return {
    async takeConcurrencySlots(request) {
      return take.immediate(request);
    },
    async holdConcurrencySlots(owner, holdings, ttlMs) {
      if (holdings.length > 0) hold.immediate(owner, holdings, ttlMs);
    },
    async listConcurrencySlots() {
      return live.all(clock.now()) as SlotHolder[];
    },
  };
}

export const CONCURRENCY_SLOTS_MIGRATION = `
-- Endpoint concurrency slots held by each instance (owner) on the file, until expires_at unless
-- renewed: a crashed instance's slots free themselves.
CREATE TABLE concurrency_slots (
  key TEXT NOT NULL,
  owner TEXT NOT NULL,
  held INTEGER NOT NULL CHECK (held > 0),
  expires_at INTEGER NOT NULL,
  PRIMARY KEY (key, owner)
) WITHOUT ROWID;
`;
