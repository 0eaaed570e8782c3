import { MAX_PRIORITY } from '../../domain/message.js';
import type { Claim, ClaimRequest, LeaseRef } from '../port.js';
import { lanePositions, rowToMessage } from '../rows.js';
import type { ChannelRow } from './channel-cache.js';
import { createTally, type Tally } from './counters.js';
import type { DueRow, Statements } from './statements.js';

/*
 * Claims, renewals and releases. Each runs inside a transaction the caller opened; SQLite has
 * one writer, so no interleaving needs a lock of ours.
 */

/** Claims of `target`; the deliveries it puts in flight are counted into `tally`, which the caller writes before it commits. */
export function claim(sql: Statements, target: ChannelRow, request: ClaimRequest, now: number, tally: Tally): Claim[] {
  if (sql.paused.get(target.id, target.topicId)?.paused === 1) return [];
  return target.ordering === 'none' ? claimUnordered(sql, target, request, now, tally) : claimOrdered(sql, target, request, now, tally);
}

/** Highest priority first, oldest due first within it; an expired lease is taken over like a due delivery. */
function claimUnordered(sql: Statements, target: ChannelRow, request: ClaimRequest, now: number, tally: Tally): Claim[] {
  const due = readyByPriority(sql, target.id, now, request.limit);
  if (due.length === 0) return [];
  const leaseUntil = now + request.leaseMs;
  tally.add(target.id, { inFlight: due.filter((d) => d.status === 'ready').length });
  return due.map((d) => ({ target: target.name, lane: null, deliveries: [{ ...lease(sql, d, request.owner, leaseUntil, now), message: rowToMessage(d, target) }] }));
}

/** Leases one delivery a claim read: its new epoch and attempt number follow from the row read (one writer). */
function lease(sql: Statements, row: DueRow, owner: string, leaseUntil: number, now: number): { deliveryId: number; epoch: number; attempt: number } {
  sql.lease.run(owner, leaseUntil, now, row.delivery_id);
  return { deliveryId: row.delivery_id, epoch: row.epoch + 1, attempt: row.attempts + 1 };
}

/**
 * Due deliveries with their messages, highest priority first: one index range per priority
 * present, from the top, until the limit is reached (priorities are few: MIN_PRIORITY to MAX_PRIORITY).
 */
function readyByPriority(sql: Statements, targetId: number, now: number, limit: number): DueRow[] {
  const due: DueRow[] = [];
  for (const priority of prioritiesOf(sql, targetId)) {
    due.push(...sql.readyAtPriority.all(targetId, priority, now, now, limit - due.length));
    if (due.length >= limit) break;
  }
  return due;
}

/** The priorities of a plain queue's live deliveries, highest first, each found when asked for (one seek). */
function* prioritiesOf(sql: Statements, targetId: number): Generator<number> {
  let priority = sql.priorityBelow.get({ targetId, below: MAX_PRIORITY + 1 })?.priority;
  while (priority !== undefined) {
    yield priority;
    priority = sql.priorityBelow.get({ targetId, below: priority })?.priority;
  }
}

/**
 * When the first live delivery of a plain queue is (or was) due, or null when it has none: the
 * earliest of each priority's first, each one seek of deliveries_by_priority, which is the only
 * index a plain claim reads (an index of due times alone would be rewritten by every claim and
 * settlement for this one question).
 */
export function nextDueAt(sql: Statements, targetId: number, now: number): number | null {
  let first: number | null = null;
  for (const priority of prioritiesOf(sql, targetId)) {
    const at = sql.firstDueAtPriority.get({ targetId, priority, now })?.at;
    if (at !== undefined && (first === null || at < first)) first = at;
  }
  return first;
}

function claimOrdered(sql: Statements, target: ChannelRow, request: ClaimRequest, now: number, tally: Tally): Claim[] {
  const batchSize = Math.max(1, request.batchSize ?? 1);
  const leaseUntil = now + request.leaseMs;
  const claims: Claim[] = [];
  let started = 0;
  for (const { lane, delivered, last_id } of sql.readyLanes.all(target.id, now, now, request.limit)) {
    const rows = sql.laneHead.all(target.id, lane, batchSize);
    const head = rows[0];
    if (!head) {
      sql.deleteLane.run(target.id, lane);
      continue;
    }
    // Guard the one-in-flight rule against any stale ready_at: a head still leased, or not
    // yet due, makes the lane wait for exactly that moment.
    if (head.available_at > now) {
      sql.setLaneReady.run(head.available_at, target.id, lane);
      continue;
    }
    const fillBy = head.created_at + (request.maxBatchWaitMs ?? 0);
    if (rows.length < batchSize && fillBy > now && head.attempts === 0) {
      sql.waitForFill.run(fillBy, target.id, lane);
      continue;
    }
    sql.leaseLane.run(leaseUntil, leaseUntil, target.id, lane);
    started += rows.filter((r) => r.status === 'ready').length;
    const positions = lanePositions(lane, delivered === null ? undefined : { delivered, last_id: last_id! }, rows.map((r) => r.id));
    const deliveries = rows.map((row, i) => ({ ...lease(sql, row, request.owner, leaseUntil, now), message: rowToMessage(row, target), lanePosition: positions[i]! }));
    claims.push({ target: target.name, lane, deliveries });
  }
  if (started > 0) tally.add(target.id, { inFlight: started });
  return claims;
}

export function renew(sql: Statements, leases: readonly LeaseRef[], leaseMs: number, now: number): number[] {
  const until = now + leaseMs;
  const lost: number[] = [];
  for (const l of leases) {
    const row = sql.renew.get(until, now, l.deliveryId, l.epoch);
    if (!row) lost.push(l.deliveryId);
    else if (row.lane !== null) sql.leaseLane.run(until, until, row.target_id, row.lane);
  }
  return lost;
}

export function release(sql: Statements, leases: readonly LeaseRef[], now: number): void {
  const tally = createTally(sql);
  for (const l of leases) {
    const row = sql.release.get(now, now, now, l.deliveryId, l.epoch);
    if (!row) continue;
    tally.add(row.target_id, { inFlight: -1 });
    if (row.lane !== null) sql.unleaseLane.run(now, row.target_id, row.lane);
  }
  tally.flush();
}
