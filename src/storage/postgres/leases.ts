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

export type FreeRow = MessageRow & { delivery_id: number; epoch: number; attempts: number };

/** Rows of an unordered claim (settle_free_and_claim), one claim each. */
export function unorderedClaims(target: ChannelRow, rows: readonly FreeRow[]): Claim[] {
  return rows.map((row) => ({
    target: target.name,
    lane: null,
    deliveries: [{ deliveryId: row.delivery_id, epoch: row.epoch, attempt: row.attempts, message: rowToMessage(row, target) }],
  }));
}

type LaneRow = MessageRow & { lane: string; delivery_id: number; epoch: number; attempts: number; cursor_delivered: string | null; cursor_last_id: string | null };

/** The claim's parameters as claim_lanes takes them, after the target (statements.ts, claimLanes). */
function laneClaimParameters(request: ClaimRequest, now: number): unknown[] {
  return [request.limit, Math.max(1, request.batchSize ?? 1), request.maxBatchWaitMs ?? 0, request.owner, now + request.leaseMs];
}

/** Rows of claim_lanes (lane by lane, each in position order) as claims. */
function laneClaims(target: ChannelRow, rows: readonly LaneRow[]): Claim[] {
  const claims: Claim[] = [];
  let lane: LaneRow[] = [];
  const flush = () => {
    const head = lane[0];
    if (!head) return;
    // The cursor was read with the lane locked, after whoever held it last committed (lanes.ts, R1).
    const cursor = head.cursor_last_id === null ? undefined : { delivered: head.cursor_delivered ?? 0, last_id: head.cursor_last_id };
    const positions = lanePositions(head.lane, cursor, lane.map((r) => r.id));
    claims.push({
      target: target.name,
      lane: head.lane,
      deliveries: lane.map((row, i) => ({ deliveryId: row.delivery_id, epoch: row.epoch, attempt: row.attempts, message: rowToMessage(row, target), lanePosition: positions[i]! })),
    });
    lane = [];
  };
  for (const row of rows) {
    if (lane.length > 0 && lane[0]!.lane !== row.lane) flush();
    lane.push(row);
  }
  flush();
  return claims;
}

/** One round trip: claim_lanes locks lanes, reads their heads in a later statement (lanes.ts, R1) and leases them. */
export async function claimOrdered(db: pg.Pool, sql: HotStatements, target: ChannelRow, request: ClaimRequest, now: number): Promise<Claim[]> {
  const rows = await retrying(() => run<LaneRow>(db, sql.claimLanes, [target.id, now, ...laneClaimParameters(request, now)], true));
  return laneClaims(target, rows);
}

/** Whether settle_and_claim can take these settlements: outcomes that move a lane on, each delivery once. */
export function movesLanesOn(settlements: readonly Settlement[]): boolean {
  return settlements.every((s) => s.decision.kind === 'delivered' || s.decision.kind === 'deadletter') && firstOccurrences(settlements).every(Boolean);
}

/**
 * Delivered and dead-lettered outcomes (movesLanesOn) with their lanes moved on, then, when
 * `next` is given, a claim from its target, in one round trip (settle_and_claim). Retried whole
 * on a deadlock: the function's statements share one transaction, rolled back together.
 */
export async function settleAndClaimLanes(
  db: pg.Pool,
  sql: HotStatements,
  settlements: readonly Settlement[],
  next: { target: ChannelRow; request: ClaimRequest } | null,
  now: number,
): Promise<{ results: SettleResult[]; claims: Claim[] }> {
  const claim = next ? [next.target.id, ...laneClaimParameters(next.request, now)] : [0, 0, 1, 0, '', now];
  const rows = await retrying(() => run<LaneRow & { settled: number[] | null }>(db, sql.settleAndClaim, [...settleParameters(settlements, now), ...claim], true));
  const settled = new Set((rows[0]?.settled ?? []).map(Number));
  return {
    results: settlements.map((s) => (settled.has(s.deliveryId) ? 'ok' : 'fenced')),
    claims: next ? laneClaims(next.target, rows.slice(1)) : [],
  };
}

/** Locks the lanes of these deliveries (sorted, so batches cannot deadlock) and returns their states. */
async function lockLanes(db: Db, sql: HotStatements, ids: readonly number[]): Promise<Map<string, string>> {
  const rows = await run<{ target_id: number; lane: string; state: string }>(db, sql.lockLanesOf, [ids], true);
  return new Map(rows.map((r) => [laneKey(r.target_id, r.lane), r.state]));
}

/**
 * One call that never waits for a lock (statements.ts, renew). A lease whose row someone
 * else holds right now is neither renewed nor reported lost: the next renewal decides.
 */
export async function renewLeases(db: pg.Pool, sql: HotStatements, leases: readonly LeaseRef[], leaseMs: number, now: number): Promise<number[]> {
  const rows = await run<{ lost: number }>(db, sql.renew, [leases.map((l) => l.deliveryId), leases.map((l) => l.epoch), now + leaseMs, now], true);
  return rows.map((r) => r.lost);
}

export async function releaseLeases(db: Db, sql: HotStatements, leases: readonly LeaseRef[], now: number): Promise<void> {
  await lockLanes(db, sql, leases.map((l) => l.deliveryId));
  await run(db, sql.release, [leases.map((l) => l.deliveryId), leases.map((l) => l.epoch), now], true);
}

/** The outcome columns settleDeliveries and settle_free_and_claim take, in order. */
export function settleParameters(batch: readonly Settlement[], now: number): unknown[] {
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
 * call of their own (`free`: settle_free_and_claim, with a claim or not), then, only
 * if some have a lane, those through `locking` (one call of settle_and_claim when they all move
 * their lanes on, else the transaction of settleBatch). The two never touch the same rows, so
 * their order does not matter.
 */
export async function settleFast(
  db: pg.Pool,
  sql: HotStatements,
  batch: OutcomeBatch,
  free: (unknown: readonly Settlement[]) => Promise<FreeOutcome[]> = async (unknown) => (await freeStep(db, sql, unknown, batch.now)).outcomes,
): Promise<Array<SettleResult | Promise<SettleResult>>> {
  const { settlements, knownLaned, locking } = batch;
  const first = firstOccurrences(settlements);
  const byId = new Map<number, { settled: boolean; laned: boolean }>();
  const unknown = settlements.filter((s, i) => {
    if (!first[i]) return false;
    if (knownLaned[i]) byId.set(s.deliveryId, { settled: false, laned: true });
    return !knownLaned[i];
  });
  if (unknown.length > 0) {
    // Retried alone: a deadlock rolled it back whole. The locking part retries its own transaction.
    const rows = await retrying(() => free(unknown));
    for (const row of rows) byId.set(row.id, row);
  }
  const laned = settlements.filter((s, i) => first[i] && byId.get(s.deliveryId)?.laned === true);
  const lanedResults = new Map<number, SettleResult | Promise<SettleResult>>();
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

type FreeStepRow = FreeRow & { settled: number[] | null; laned: number[] | null; looked_ahead: boolean | null; next_at: number | null };

/**
 * One call of settle_free_and_claim: the lane-free outcomes (what it did with each: settled, or
 * found a lane and left it), then, when `claim` is given, a claim from its target with the
 * look-ahead when asked for.
 */
async function freeStep(
  db: pg.Pool,
  sql: HotStatements,
  outcomes: readonly Settlement[],
  now: number,
  claim?: { target: ChannelRow; request: ClaimRequest; lookAhead: boolean },
): Promise<{ outcomes: FreeOutcome[]; claims: Claim[]; nextWakeAt?: number | null }> {
  const { target, request, lookAhead } = claim ?? { target: null, request: null, lookAhead: false };
  const rows = await run<FreeStepRow>(db, sql.settleFreeAndClaim, [
    ...settleParameters(outcomes, now), target?.id ?? 0, request?.limit ?? 0, request?.owner ?? '', now + (request?.leaseMs ?? 0), lookAhead,
  ], true);
  const settled = new Set((rows[0]?.settled ?? []).map(Number));
  const laned = new Set((rows[0]?.laned ?? []).map(Number));
  const last = rows.at(-1);
  const looked = rows.length > 1 && last?.looked_ahead === true;
  const claimed = rows.slice(1, looked ? -1 : undefined);
  return {
    outcomes: outcomes.map((o) => ({ id: o.deliveryId, settled: settled.has(o.deliveryId), laned: laned.has(o.deliveryId) })),
    claims: target ? unorderedClaims(target, claimed) : [],
    ...(looked ? { nextWakeAt: last.next_at === null ? null : Number(last.next_at) } : {}),
  };
}

/**
 * An unordered claim: settle_free_and_claim with no outcomes, in one round trip that commits
 * without waiting for the WAL flush (a claim lost at a crash only means the lease is taken
 * again). With `lookAhead`, a claim that comes up short is followed by the look-ahead (what nextWakeAt would answer).
 */
export async function claimUnordered(
  db: pg.Pool, sql: HotStatements, target: ChannelRow, request: ClaimRequest, now: number, lookAhead = false,
): Promise<{ claims: Claim[]; nextWakeAt?: number | null }> {
  const { claims, nextWakeAt } = await freeStep(db, sql, [], now, { target, request, lookAhead });
  return nextWakeAt === undefined ? { claims } : { claims, nextWakeAt };
}

/** Outcomes to settle, whether this instance knows each one's delivery to have a lane, and how those that have one are settled. */
export interface OutcomeBatch {
  settlements: readonly Settlement[];
  knownLaned: readonly boolean[];
  now: number;
  /** May answer some settlements later than the others (a promise in place of a result): see settleHolding. */
  locking: (laned: readonly Settlement[]) => Promise<Array<SettleResult | Promise<SettleResult>>>;
}

/** What the lane-free settlement did with one delivery: settled it, or found it has a lane (and left it). */
interface FreeOutcome {
  id: number;
  settled: boolean;
  laned: boolean;
}

/**
 * An unordered target's outcomes and the claim of `next` in one round trip (settle_free_and_claim),
 * the rest as settleFast does; with `lookAhead` in the request, the look-ahead after a claim that
 * came up short as well. `claims` is null when no lane-free outcome was left to settle, so the
 * function did not run: the caller claims on its own.
 */
export async function settleFreeAndClaim(
  db: pg.Pool,
  sql: HotStatements,
  batch: OutcomeBatch,
  next: { target: ChannelRow; request: ClaimRequest },
): Promise<{ results: SettleResult[]; claims: Claim[] | null; nextWakeAt?: number | null }> {
  const ran: { step?: Awaited<ReturnType<typeof freeStep>> } = {};
  const results = await settleFast(db, sql, batch, async (unknown) => {
    ran.step = await freeStep(db, sql, unknown, batch.now, { ...next, lookAhead: next.request.lookAhead === true });
    return ran.step.outcomes;
  });
  const { step } = ran;
  return { results: await Promise.all(results), claims: step?.claims ?? null, ...(step?.nextWakeAt !== undefined ? { nextWakeAt: step.nextWakeAt } : {}) };
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
