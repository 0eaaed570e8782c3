import type pg from 'pg';
import type { Claim, ClaimRequest, LeaseRef, Settlement, SettleResult } from '../port.js';
import { lanePositions, rowToMessage, type MessageRow } from '../rows.js';
import type { ChannelRow } from './channel-cache.js';
import { retrying, run } from './connection.js';
import { deliveryChange, laneKey, planLanes, type LaneHead, type SettledRow } from './lanes.js';
import type { HotStatements } from './statements.js';

/*
 * Claims, renewals, settlements and releases, each inside a transaction the caller opened on a
 * pooled connection. The lane locking they follow is explained in lanes.ts.
 */

type Db = pg.PoolClient;

/** One statement, run outside any transaction of ours (see claimReady). */
export async function claimUnordered(db: pg.Pool, sql: HotStatements, target: ChannelRow, request: ClaimRequest, now: number): Promise<Claim[]> {
  const rows = await run<MessageRow & { delivery_id: number; epoch: number; attempts: number }>(
    db, sql.claimReady, [target.id, now, request.limit, request.owner, now + request.leaseMs], true,
  );
  return rows.map((row) => ({
    target: target.name,
    lane: null,
    deliveries: [{ deliveryId: row.delivery_id, epoch: row.epoch, attempt: row.attempts, message: rowToMessage(row, target) }],
  }));
}

type HeadRow = MessageRow & { lane: string; delivery_id: number; position: number; status: string; available_at: number; attempts: number; cursor_delivered: string | null; cursor_last_id: string | null };

/**
 * Lanes are locked in one statement and their heads read in the next, so a delivery committed by
 * whoever held a lane before is seen, and a lane found empty may be deleted (lanes.ts, R1).
 */
export async function claimOrdered(db: Db, sql: HotStatements, target: ChannelRow, request: ClaimRequest, now: number): Promise<Claim[]> {
  const locked = await run<{ lane: string }>(db, sql.lockReadyLanes, [target.id, now, request.limit], true);
  if (locked.length === 0) return [];
  const lanes = locked.map((l) => l.lane);
  const batchSize = Math.max(1, request.batchSize ?? 1);
  const heads = await run<HeadRow>(db, sql.laneHeads, [target.id, lanes, batchSize], true);
  const byLane = new Map<string, HeadRow[]>();
  for (const row of heads) byLane.set(row.lane, [...(byLane.get(row.lane) ?? []), row]);
  const waiting: Array<{ lane: string; until: number; filling: boolean }> = [];
  const empty: string[] = [];
  const leased: Array<[string, HeadRow[]]> = [];
  for (const lane of lanes) {
    const rows = byLane.get(lane);
    const head = rows?.[0];
    if (!rows || !head) {
      empty.push(lane);
      continue;
    }
    // Guard the one-in-flight rule against any stale ready_at: a head still leased, or not yet
    // due, makes the lane wait for exactly that moment.
    if (head.available_at > now) {
      waiting.push({ lane, until: head.available_at, filling: false });
      continue;
    }
    // A short first batch waits for more events until its head is maxBatchWait old.
    const fillBy = head.created_at + (request.maxBatchWaitMs ?? 0);
    if (rows.length < batchSize && fillBy > now && head.attempts === 0) {
      waiting.push({ lane, until: fillBy, filling: true });
      continue;
    }
    leased.push([lane, rows]);
  }
  const leaseUntil = now + request.leaseMs;
  const ids = leased.flatMap(([, rows]) => rows.map((r) => r.delivery_id));
  const updated = await run<{ id: number; epoch: number; attempts: number }>(db, sql.applyLaneClaim, [
    target.id, waiting.map((w) => w.lane), waiting.map((w) => w.until), empty, leaseUntil, leased.map((l) => l[0]), request.owner, now, ids,
    waiting.map((w) => w.filling),
  ], true);
  const leases = new Map(updated.map((u) => [u.id, u]));
  return leased.map(([lane, rows]) => {
    // The cursor was read with the lane locked, after whoever held it last committed (lanes.ts, R1).
    const head = rows[0]!;
    const cursor = head.cursor_last_id === null ? undefined : { delivered: head.cursor_delivered ?? 0, last_id: head.cursor_last_id };
    const positions = lanePositions(lane, cursor, rows.map((r) => r.id));
    return {
      target: target.name,
      lane,
      deliveries: rows.map((row, i) => {
        const lease = leases.get(row.delivery_id)!;
        return { deliveryId: row.delivery_id, epoch: lease.epoch, attempt: lease.attempts, message: rowToMessage(row, target), lanePosition: positions[i]! };
      }),
    };
  });
}

/** Locks the lanes of these deliveries (sorted, so batches cannot deadlock) and returns their states. */
async function lockLanes(db: Db, sql: HotStatements, ids: readonly number[]): Promise<Map<string, string>> {
  const rows = await run<{ target_id: number; lane: string; state: string }>(db, sql.lockLanesOf, [ids], true);
  return new Map(rows.map((r) => [laneKey(r.target_id, r.lane), r.state]));
}

/**
 * One statement that never waits for a lock (statements.ts, renew). A lease whose row someone
 * else holds right now is neither renewed nor reported lost: the next renewal decides.
 */
export async function renewLeases(db: pg.Pool, sql: HotStatements, leases: readonly LeaseRef[], leaseMs: number, now: number): Promise<number[]> {
  const rows = await run<{ id: number; locked: boolean; renewed: boolean }>(
    db, sql.renew, [leases.map((l) => l.deliveryId), leases.map((l) => l.epoch), now + leaseMs, now], true,
  );
  return rows.filter((r) => r.locked && !r.renewed).map((r) => r.id);
}

export async function releaseLeases(db: Db, sql: HotStatements, leases: readonly LeaseRef[], now: number): Promise<void> {
  await lockLanes(db, sql, leases.map((l) => l.deliveryId));
  await run(db, sql.release, [leases.map((l) => l.deliveryId), leases.map((l) => l.epoch), now], true);
}

/** The columns settleDeliveries and settleFree take, in order. */
function settleParameters(batch: readonly Settlement[], now: number): unknown[] {
  const changes = batch.map((s) => deliveryChange(s, now));
  const int = (n: number | null) => (n === null ? null : Math.round(n));
  return [
    batch.map((s) => s.deliveryId),
    batch.map((s) => s.epoch),
    changes.map((c) => c.status),
    changes.map((c) => c.availableAt),
    changes.map((c) => c.reason),
    batch.map((s) => s.result ?? null),
    batch.map((s) => s.attempt.attempt),
    batch.map((s) => int(s.attempt.startedAt)),
    batch.map((s) => int(s.attempt.durationMs)),
    batch.map((s) => int(s.attempt.statusCode)),
    batch.map((s) => s.attempt.error),
    batch.map((s) => s.attempt.response),
    now,
  ];
}

/** Marks every repeat of a delivery id after its first: settled twice in one batch, the second is fenced. */
function firstOccurrences(settlements: readonly Settlement[]): boolean[] {
  const seen = new Set<number>();
  return settlements.map((s) => {
    if (seen.has(s.deliveryId)) return false;
    seen.add(s.deliveryId);
    return true;
  });
}

/**
 * Settles a batch in as few round trips as its deliveries allow: those without a lane in one
 * statement of their own (settleFree), then, only if some have a lane, those in one transaction
 * through settleBatch. The two never touch the same rows, so their order does not matter.
 */
export async function settleFast(
  db: pg.Pool,
  sql: HotStatements,
  settlements: readonly Settlement[],
  knownLaned: readonly boolean[],
  now: number,
  locking: (laned: readonly Settlement[]) => Promise<SettleResult[]>,
): Promise<SettleResult[]> {
  const first = firstOccurrences(settlements);
  const byId = new Map<number, { settled: boolean; laned: boolean }>();
  const unknown = settlements.filter((s, i) => {
    if (!first[i]) return false;
    if (knownLaned[i]) byId.set(s.deliveryId, { settled: false, laned: true });
    return !knownLaned[i];
  });
  if (unknown.length > 0) {
    // Retried alone: a deadlock rolled it back whole. The locking part retries its own transaction.
    const rows = await retrying(() => run<{ id: number; settled: boolean; laned: boolean }>(db, sql.settleFree, settleParameters(unknown, now), true));
    for (const row of rows) byId.set(row.id, row);
  }
  const laned = settlements.filter((s, i) => first[i] && byId.get(s.deliveryId)?.laned === true);
  const lanedResults = new Map<number, SettleResult>();
  if (laned.length > 0) {
    const results = await locking(laned);
    laned.forEach((s, i) => lanedResults.set(s.deliveryId, results[i]!));
  }
  return settlements.map((s, i) => {
    if (!first[i]) return 'fenced';
    const row = byId.get(s.deliveryId);
    if (row?.laned) return lanedResults.get(s.deliveryId) ?? 'fenced';
    return row?.settled ? 'ok' : 'fenced';
  });
}

/**
 * One transaction for a whole batch: lock the lanes, apply every outcome (fenced by epoch) with
 * its attempt record in one statement, read the heads of the lanes that move on, then write the
 * lanes. A delivery settled twice in one batch is fenced the second time, as it would be if the
 * settlements ran one after the other.
 */
export async function settleBatch(db: Db, sql: HotStatements, settlements: readonly Settlement[], now: number): Promise<SettleResult[]> {
  const first = firstOccurrences(settlements);
  const batch = settlements.filter((_, i) => first[i]);
  const states = await lockLanes(db, sql, batch.map((s) => s.deliveryId));
  const updated = await run<SettledRow>(db, sql.settleDeliveries, settleParameters(batch, now), true);
  const byId = new Map(updated.map((r) => [r.id, r]));
  const rows = batch.map((s) => byId.get(s.deliveryId));
  const moving = new Map<string, { targetId: number; lane: string }>();
  batch.forEach((s, i) => {
    const row = rows[i];
    if (row?.lane != null && (s.decision.kind === 'delivered' || s.decision.kind === 'deadletter')) {
      moving.set(laneKey(row.target_id, row.lane), { targetId: row.target_id, lane: row.lane });
    }
  });
  const heads = new Map<string, LaneHead>();
  if (moving.size > 0) {
    const lanes = [...moving.values()];
    const found = await run<LaneHead>(db, sql.headsOf, [lanes.map((l) => l.targetId), lanes.map((l) => l.lane)], true);
    for (const head of found) heads.set(laneKey(head.target_id, head.lane), head);
  }
  const plan = planLanes(batch, rows, states, heads, now);
  if (plan.writes.length > 0) {
    const gone = plan.writes.filter((w) => w.kind === 'delete');
    const set = plan.writes.flatMap((w) => (w.kind === 'set' ? [w] : []));
    await run(db, sql.applyLanes, [
      gone.map((w) => w.targetId), gone.map((w) => w.lane),
      set.map((w) => w.targetId), set.map((w) => w.lane), set.map((w) => w.state), set.map((w) => w.readyAt), set.map((w) => w.reason),
      now,
    ], true);
  }
  let k = 0;
  return settlements.map((_, i) => (first[i] ? plan.results[k++]! : 'fenced'));
}
