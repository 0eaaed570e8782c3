import { randomBytes } from 'node:crypto';
import type { Database as Db } from 'better-sqlite3';
import type { Clock } from '../../domain/clock.js';
import type { InFlightGroup, StoreDeferrals } from '../port.js';
import type { InFlightRow } from '../rows.js';
import { typed } from './statements.js';

function deferralStatements(connection: Db) {
  const db = typed(connection);
  return {
    defer: db.prepare<{ id: number; epoch: number; now: number; deadline: number; hold: number }>(
      `UPDATE deliveries SET deferred_epoch = epoch, deferred_at = @now, deferred_until = @deadline, available_at = @hold, updated_at = @now
      WHERE id = @id AND epoch = @epoch AND status = 'delivering'`),
    /** Deferrals that ended without reaching their deadline (completed, or taken over) no longer need the index. */
    clearStale: db.prepare<[number, number]>(`UPDATE deliveries SET deferred_until = NULL
      WHERE target_id = ? AND deferred_until <= ? AND NOT (status = 'delivering' AND deferred_epoch = epoch)`),
    expired: db.prepare<[number, number, number], { id: number; lane: string | null }>(
      `SELECT id, lane FROM deliveries WHERE target_id = ? AND deferred_until <= ? AND status = 'delivering' AND deferred_epoch = epoch
      ORDER BY lane, position LIMIT +?`),
    takeOver: db.prepare<[string, number, number, number], { epoch: number }>(
      `UPDATE deliveries SET epoch = epoch + 1, deferred_until = NULL, lease_owner = ?, available_at = ?, updated_at = ? WHERE id = ? RETURNING epoch`),
    row: db.prepare<[number], InFlightRow>(
      `SELECT d.id, d.epoch, d.attempts, d.status, d.lane, d.target_id, c.name AS target, d.deferred_epoch, d.deferred_at, m.id AS message_id, d.expires_at
      FROM deliveries d JOIN messages m ON m.pk = d.message_pk JOIN channels c ON c.id = d.target_id WHERE d.id = ?`),
    laneInFlight: db.prepare<[number, string], InFlightRow>(
      `SELECT d.id, d.epoch, d.attempts, d.status, d.lane, d.target_id, c.name AS target, d.deferred_epoch, d.deferred_at, m.id AS message_id, d.expires_at
      FROM deliveries d JOIN messages m ON m.pk = d.message_pk JOIN channels c ON c.id = d.target_id
      WHERE d.target_id = ? AND d.lane = ? AND d.available_at IS NOT NULL AND d.status = 'delivering' ORDER BY d.position`),
    getKey: db.prepare<[string], { value: string }>('SELECT value FROM store_keys WHERE name = ?'),
    putKey: db.prepare<[string, string]>('INSERT INTO store_keys (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING'),
  };
}

/**
 * Asynchronous acknowledgement on SQLite (see the port). A deferred attempt keeps its delivery
 * `delivering` with its lease held to the deadline; a lane's claim finds its head leased and
 * waits, so an ordered lane stays blocked without a write to the lane.
 */
export function createSqliteDeferrals(db: Db, clock: Clock): StoreDeferrals {
  const sql = deferralStatements(db);
  let key: string | undefined;
  const group = (rows: readonly InFlightRow[], deferredAt: number | null): InFlightGroup => ({
    target: rows[0]!.target,
    lane: rows[0]!.lane,
    deferredAt,
    deliveries: rows.map((r) => ({ deliveryId: r.id, epoch: r.epoch, attempt: r.attempts, messageId: r.message_id, expiresAt: r.expires_at })),
  });
  return {
    async defer(leases, deadline, holdUntil) {
      const now = clock.now();
      return db.transaction(() => leases.map((l) => sql.defer.run({ id: l.deliveryId, epoch: l.epoch, now, deadline, hold: holdUntil }).changes === 1)).immediate();
    },
    async expireDeferred(request) {
      const now = clock.now();
      const target = db.prepare<[string], { id: number }>('SELECT id FROM channels WHERE name = ?').get(request.target);
      if (!target) return [];
      return db.transaction(() => {
        sql.clearStale.run(target.id, now);
        const due = sql.expired.all(target.id, now, request.limit);
        const groups = new Map<string, InFlightRow[]>();
        for (const d of due) {
          const { epoch } = sql.takeOver.get(request.owner, now + request.leaseMs, now, d.id)!;
          const row = { ...sql.row.get(d.id)!, epoch };
          const k = d.lane === null ? `#${d.id}` : `lane:${d.lane}`;
          groups.set(k, [...(groups.get(k) ?? []), row]);
        }
        return [...groups.values()].map((rows) => group(rows, rows[0]!.deferred_at));
      }).immediate();
    },
    async deliveryTarget(deliveryId) {
      return sql.row.get(deliveryId)?.target ?? null;
    },
    async findInFlight(deliveryId, epoch) {
      const row = sql.row.get(deliveryId);
      if (!row) return 'missing';
      if (row.epoch !== epoch) return row.epoch > epoch ? 'superseded' : 'missing';
      if (row.status !== 'delivering') return 'settled';
      const rows = row.lane === null ? [row] : sql.laneInFlight.all(row.target_id, row.lane);
      return group(rows, row.deferred_epoch === row.epoch ? row.deferred_at : null);
    },
    async completionKey() {
      if (key !== undefined) return key;
      sql.putKey.run('completion', randomBytes(32).toString('base64url'));
      key = sql.getKey.get('completion')!.value;
      return key;
    },
  };
}
