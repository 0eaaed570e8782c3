import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import type { Clock } from '../../domain/clock.js';
import type { InFlightGroup, StoreDeferrals } from '../port.js';
import type { InFlightRow } from '../rows.js';
import { guard, retrying, run } from './connection.js';
import { statementFactory } from './statements.js';

const IN_FLIGHT_COLUMNS = 'd.id, d.epoch, d.attempts, d.status, d.lane, d.target_id, c.name AS target, d.deferred_epoch, d.deferred_at, m.id AS message_id, d.expires_at';

function deferralStatements(schema: string) {
  const st = statementFactory(schema);
  return {
    /** $1 ids, $2 epochs, $3 now, $4 deadline, $5 lease held until. Only delivery rows: a lane's claim reads its head's lease itself. */
    defer: st('defer', (s) => `UPDATE ${s}.deliveries d SET deferred_epoch = d.epoch, deferred_at = $3, deferred_until = $4, available_at = $5, updated_at = $3
      FROM unnest($1::bigint[], $2::int[]) AS v(id, epoch)
      WHERE d.id = v.id AND d.epoch = v.epoch AND d.status = 'delivering'
      RETURNING d.id`),
    /**
     * Takes over expired deferrals of target $1 (deadline before $2, at most $3), skipping rows
     * someone else holds right now: a new epoch and a lease for owner $4 until $5, attempts unchanged.
     * Deferrals that ended before their deadline (completed, taken over) leave the index.
     */
    expire: st('expire_deferred', (s) => `WITH due AS (
        SELECT d.id FROM ${s}.deliveries d
        WHERE d.target_id = $1 AND d.deferred_until <= $2 AND d.status = 'delivering' AND d.deferred_epoch = d.epoch
        ORDER BY d.lane, d.position LIMIT $3
        FOR UPDATE SKIP LOCKED
      ), stale AS (
        UPDATE ${s}.deliveries d SET deferred_until = NULL
        WHERE d.target_id = $1 AND d.deferred_until <= $2 AND NOT (d.status = 'delivering' AND d.deferred_epoch = d.epoch)
      ), upd AS (
        UPDATE ${s}.deliveries d SET epoch = d.epoch + 1, deferred_until = NULL, lease_owner = $4, available_at = $5, updated_at = $2
        FROM due WHERE d.id = due.id
        RETURNING d.id, d.epoch, d.attempts, d.status, d.lane, d.position, d.target_id, d.deferred_epoch, d.deferred_at, d.message_pk, d.expires_at
      )
      SELECT upd.id, upd.epoch, upd.attempts, upd.status, upd.lane, upd.target_id, c.name AS target, upd.deferred_epoch, upd.deferred_at, m.id AS message_id, upd.expires_at
      FROM upd JOIN ${s}.messages m ON m.pk = upd.message_pk JOIN ${s}.channels c ON c.id = upd.target_id
      ORDER BY upd.lane, upd.position`),
    row: st('in_flight', (s) => `SELECT ${IN_FLIGHT_COLUMNS}
      FROM ${s}.deliveries d JOIN ${s}.messages m ON m.pk = d.message_pk JOIN ${s}.channels c ON c.id = d.target_id WHERE d.id = $1`),
    /** A delivering row is live (available_at set), which lets the lane's live index (deliveries_lane) serve this. */
    laneInFlight: st('lane_in_flight', (s) => `SELECT ${IN_FLIGHT_COLUMNS}
      FROM ${s}.deliveries d JOIN ${s}.messages m ON m.pk = d.message_pk JOIN ${s}.channels c ON c.id = d.target_id
      WHERE d.target_id = $1 AND d.lane = $2 AND d.live AND d.status = 'delivering' ORDER BY d.position`),
    targetId: st('target_id', (s) => `SELECT id FROM ${s}.channels WHERE name = $1`),
    putKey: st('put_key', (s) => `INSERT INTO ${s}.store_keys (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING`),
    getKey: st('get_key', (s) => `SELECT value FROM ${s}.store_keys WHERE name = $1`),
  };
}

function group(rows: readonly InFlightRow[], deferredAt: number | null): InFlightGroup {
  return {
    target: rows[0]!.target,
    lane: rows[0]!.lane,
    deferredAt: deferredAt === null ? null : Number(deferredAt),
    deliveries: rows.map((r) => ({ deliveryId: Number(r.id), epoch: r.epoch, attempt: r.attempts, messageId: r.message_id, expiresAt: r.expires_at === null ? null : Number(r.expires_at) })),
  };
}

/**
 * Asynchronous acknowledgement on PostgreSQL (see the port). Every statement touches delivery
 * rows only, so none joins the lane lock order (lanes.ts, R3): a lane's claim locks its head and
 * finds it leased until the deferral's hold, and waits.
 */
export function createPostgresDeferrals(pool: pg.Pool, schema: string, clock: Clock, ready: () => Promise<void>): StoreDeferrals {
  const sql = deferralStatements(schema);
  let key: string | undefined;
  return {
    defer: (leases, deadline, holdUntil) =>
      guard(async () => {
        await ready();
        const now = clock.now();
        const rows = await retrying(() => run<{ id: number }>(pool, sql.defer, [leases.map((l) => l.deliveryId), leases.map((l) => l.epoch), now, deadline, holdUntil], true));
        const deferred = new Set(rows.map((r) => Number(r.id)));
        return leases.map((l) => deferred.has(l.deliveryId));
      }),
    expireDeferred: (request) =>
      guard(async () => {
        await ready();
        const [target] = await run<{ id: number }>(pool, sql.targetId, [request.target], true);
        if (!target) return [];
        const now = clock.now();
        const rows = await retrying(() => run<InFlightRow>(pool, sql.expire, [target.id, now, request.limit, request.owner, now + request.leaseMs], true));
        const groups = new Map<string, InFlightRow[]>();
        for (const row of rows) {
          const k = row.lane === null ? `#${row.id}` : `lane:${row.lane}`;
          groups.set(k, [...(groups.get(k) ?? []), row]);
        }
        return [...groups.values()].map((g) => group(g, g[0]!.deferred_at));
      }),
    deliveryTarget: (deliveryId) =>
      guard(async () => {
        await ready();
        const [row] = await run<InFlightRow>(pool, sql.row, [deliveryId], true);
        return row?.target ?? null;
      }),
    findInFlight: (deliveryId, epoch) =>
      guard(async () => {
        await ready();
        const [row] = await run<InFlightRow>(pool, sql.row, [deliveryId], true);
        if (!row) return 'missing';
        if (row.epoch !== epoch) return row.epoch > epoch ? 'superseded' : 'missing';
        if (row.status !== 'delivering') return 'settled';
        const rows = row.lane === null ? [row] : await run<InFlightRow>(pool, sql.laneInFlight, [row.target_id, row.lane], true);
        return group(rows, row.deferred_epoch === row.epoch ? row.deferred_at : null);
      }),
    completionKey: () =>
      guard(async () => {
        if (key !== undefined) return key;
        await ready();
        await run(pool, sql.putKey, ['completion', randomBytes(32).toString('base64url')], true);
        const [row] = await run<{ value: string }>(pool, sql.getKey, ['completion'], true);
        key = row!.value;
        return key;
      }),
  };
}
