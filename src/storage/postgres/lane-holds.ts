import type pg from 'pg';
import type { Settlement, SettleResult } from '../port.js';
import { isLockTimeout, retrying, run } from './connection.js';
import { settleParameters } from './leases.js';
import { statementFactory, type Statement } from './statements.js';

/*
 * Retry, park and stall outcomes of laned deliveries in one round trip: none of them moves a lane
 * on (the head stays the head), so no lane is deleted and no head is read, and the lock-then-read
 * rule (lanes.ts, R1) has nothing to guard. The function settle_holding (migration 23,
 * holding-functions.ts) locks the lanes first, in (target, lane) order (R3: its deliveries update
 * waits for that lock set, through the InitPlan on `lk`), each found by its key in a nested loop
 * over the sorted lanes (statements.ts, lockLanesOf), then settles the deliveries, fenced by
 * epoch, and writes each lane as its last settlement in the batch leaves it: the result
 * planLanes gives for such a batch, applied one by one in order.
 */

/** Whether every settlement keeps its lane's head (retry, park, stall), each delivery once. */
export function holdsLanes(settlements: readonly Settlement[]): boolean {
  const ids = new Set<number>();
  for (const s of settlements) {
    if (s.decision.kind !== 'retry' && s.decision.kind !== 'park' && s.decision.kind !== 'stall') return false;
    if (ids.has(s.deliveryId)) return false;
    ids.add(s.deliveryId);
  }
  return true;
}

/**
 * $1..$13 as settleDeliveries takes them, then per settlement the lane it leaves: $14 state,
 * $15 ready_at, $16 reason. Returns a row per delivery settled (one missing was fenced): whether
 * it has a lane, and that lane's state before it.
 */
export function settleHoldingStatement(schema: string): HoldingStatements {
  const call = (fn: string) => statementFactory(schema)(fn, (s) => `SELECT * FROM ${s}.${fn}($1::bigint[], $2::int[], $3::text[], $4::bigint[],
    $5::text[], $6::text[], $7::int[], $8::bigint[], $9::int[], $10::int[], $11::text[], $12::text[], $13::bigint, $14::text[], $15::bigint[], $16::text[])`);
  return { one: call('settle_holding'), batch: call('settle_holding_or_give_up') };
}

/** settle_holding, and for a batch of several the same call that gives up on a held lane after a second (migration 28). */
export interface HoldingStatements {
  one: Statement;
  batch: Statement;
}

/** The lane a keeping outcome leaves, as planLanes writes it. */
function laneWrite(s: Settlement): { state: string; readyAt: number | null; reason: string | null } {
  const d = s.decision;
  if (d.kind === 'retry') return { state: 'active', readyAt: d.availableAt, reason: null };
  if (d.kind === 'park') return { state: 'parked', readyAt: null, reason: d.reason };
  if (d.kind === 'stall') return { state: 'stalled', readyAt: d.availableAt, reason: d.reason };
  throw new Error(`a '${d.kind}' outcome moves its lane on`);
}

/**
 * Settlements for which holdsLanes holds, in one round trip. Retried whole on a deadlock. A batch
 * that meets a lane another transaction holds (an application's open outbox transaction) gives up
 * after a second and settles its deliveries one by one, so only the held lane's own settlement
 * waits for that transaction, not the other keys and targets that happened to share its batch.
 */
export async function settleHolding(db: pg.Pool, statements: HoldingStatements, settlements: readonly Settlement[], now: number): Promise<Array<SettleResult | Promise<SettleResult>>> {
  if (settlements.length === 1) return settleHoldingWith(db, statements.one, settlements, now);
  try {
    return await settleHoldingWith(db, statements.batch, settlements, now);
  } catch (error) {
    if (!isLockTimeout(error)) throw error;
    // Each on its own, answered as it settles: the caller's other settlements need not wait for the held lane's.
    return settlements.map((s) => {
      const one = settleHoldingWith(db, statements.one, [s], now).then((results) => results[0]!);
      one.catch(() => undefined);
      return one;
    });
  }
}

async function settleHoldingWith(db: pg.Pool, statement: Statement, settlements: readonly Settlement[], now: number): Promise<SettleResult[]> {
  const lanes = settlements.map(laneWrite);
  const rows = await retrying(() => run<{ id: number; laned: boolean; before: string | null }>(db, statement, [
    ...settleParameters(settlements, now), lanes.map((l) => l.state), lanes.map((l) => l.readyAt), lanes.map((l) => l.reason),
  ], true));
  const settled = new Map(rows.map((r) => [Number(r.id), r]));
  return settlements.map((s, i) => {
    const row = settled.get(s.deliveryId);
    if (!row) return 'fenced';
    if (!row.laned || s.decision.kind === 'retry') return 'ok';
    return row.before === lanes[i]!.state ? 'ok' : 'blocked';
  });
}
