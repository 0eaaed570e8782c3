import type { Database as Db } from 'better-sqlite3';
import type { Clock } from '../../domain/clock.js';
import { EXPIRED_REASON } from '../../domain/message.js';
import type { ChannelCache } from './channel-cache.js';
import type { ExpiredDelivery, Store } from '../port.js';
import { createTally } from './counters.js';
import { counterStatements, typed } from './statements.js';

/**
 * The `expire` transition (src/domain/delivery-state.ts): live deliveries of plain queues whose
 * expiresAt has passed become dead letters with reason `expired`, without an attempt. A delivery
 * in flight under a current lease is left to finish; one whose lease expired is taken out too.
 * Paused queues expire like the others: expiry is a promise about time, not about delivery.
 */
export function createSqliteExpiry(db: Db, channels: ChannelCache, clock: Clock): Pick<Store, 'expire'> {
  const sql = typed(db);
  const due = sql.prepare<{ now: number; limit: number }, { id: number; target_id: number; status: string; message_id: string }>(
    `SELECT d.id, d.target_id, d.status, m.id AS message_id FROM deliveries d INDEXED BY deliveries_expiring JOIN messages m ON m.pk = d.message_pk
    WHERE d.expires_at IS NOT NULL AND d.available_at IS NOT NULL AND d.expires_at <= @now AND d.lane IS NULL
      AND (d.status = 'ready' OR d.available_at <= @now)
    ORDER BY d.expires_at LIMIT +@limit`);
  const deadletter = sql.prepare<{ id: number; now: number; reason: string }>(
    `UPDATE deliveries SET status = 'deadlettered', available_at = NULL, lease_owner = NULL, last_error = @reason, updated_at = @now WHERE id = @id`);
  const counters = { count: counterStatements(db).count };
  return {
    async expire(limit) {
      // A read first: WAL reads never wait, so an instance with nothing expired (the usual case)
      // takes no write lock, and a database locked by another process does not hold this
      // synchronous driver (and the event loop) for the busy timeout every poll interval.
      if (due.all({ now: clock.now(), limit: 1 }).length === 0) return [];
      return db.transaction((): ExpiredDelivery[] => {
        const now = clock.now();
        const tally = createTally(counters);
        const expired = due.all({ now, limit }).map((row) => {
          deadletter.run({ id: row.id, now, reason: EXPIRED_REASON });
          tally.add(row.target_id, { depth: -1, deadlettered: 1, inFlight: row.status === 'delivering' ? -1 : 0 });
          return { target: channels.byId(row.target_id)?.name ?? String(row.target_id), messageId: row.message_id };
        });
        tally.flush();
        return expired;
      }).immediate();
    },
  };
}
