import type pg from 'pg';
import type { Settlement, SettleResult } from '../port.js';
import { retrying, run } from './connection.js';
import { settleParameters } from './leases.js';
import { countInto, statementFactory, type Statement } from './statements.js';

/*
 * Retry, park and stall outcomes of laned deliveries in one statement: none of them moves a lane
 * on (the head stays the head), so no lane is deleted and no head is read, and the lock-then-read
 * rule (lanes.ts, R1) has nothing to guard. The statement locks the lanes first, in (target, lane)
 * order (R3: its deliveries update waits for that lock set, through the InitPlan on `lk`), each
 * found by its key in a nested loop over the sorted lanes (statements.ts, lockLanesOf), then
 * settles the deliveries, fenced by epoch, and writes each lane as its last settlement in the
 * batch leaves it: the result planLanes gives for such a batch, applied one by one in order.
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
 * $15 ready_at, $16 reason. Returns per settlement whether it settled, whether it has a lane, and
 * that lane's state before it.
 */
export function settleHoldingStatement(schema: string): Statement {
  return statementFactory(schema)('settle_holding', (s) => `WITH relaxed AS MATERIALIZED (
      SELECT set_config('synchronous_commit', 'off', true) AS commit
    ), v AS (
      SELECT * FROM unnest($1::bigint[], $2::int[], $3::text[], $4::bigint[], $5::text[], $6::text[],
        $7::int[], $8::bigint[], $9::int[], $10::int[], $11::text[], $12::text[], $14::text[], $15::bigint[], $16::text[]) WITH ORDINALITY
        AS v(id, epoch, status, available_at, reason, result, attempt, started_at, duration_ms, status_code, error, response,
          lane_state, lane_ready, lane_reason, ord)
    ), lk AS MATERIALIZED (
      SELECT l.target_id, l.lane, l.state
      FROM (SELECT DISTINCT d.target_id, d.lane FROM ${s}.deliveries d
        WHERE d.id = ANY($1::bigint[]) AND d.lane IS NOT NULL AND EXISTS (SELECT 1 FROM relaxed) ORDER BY 1, 2) x
      CROSS JOIN LATERAL (SELECT l.target_id, l.lane, l.state FROM ${s}.lanes l WHERE l.target_id = x.target_id AND l.lane = x.lane FOR UPDATE) l
    ), upd AS (
      UPDATE ${s}.deliveries d SET status = v.status, available_at = v.available_at, lease_owner = NULL, last_error = v.reason, updated_at = $13
      FROM v WHERE d.id = v.id AND d.epoch = v.epoch AND d.status = 'delivering' AND (SELECT count(*) FROM lk) >= 0
      RETURNING d.id, d.target_id, d.lane
    ), att AS (
      INSERT INTO ${s}.attempts (delivery_id, attempt, started_at, duration_ms, status_code, error, response, fenced)
      SELECT v.id, v.attempt, v.started_at, v.duration_ms, v.status_code, v.error, v.response, upd.id IS NULL
      FROM v LEFT JOIN upd ON upd.id = v.id WHERE EXISTS (SELECT 1 FROM ${s}.deliveries d WHERE d.id = v.id) ORDER BY v.ord
    ), cnt AS (
      ${countInto(s, `SELECT upd.target_id, 0, -1, 0, 0, 0, 0::bigint FROM upd`)}
    ), w AS MATERIALIZED (
      SELECT v.ord, upd.target_id, upd.lane, v.lane_state, v.lane_ready, v.lane_reason,
        COALESCE(lag(v.lane_state) OVER (PARTITION BY upd.target_id, upd.lane ORDER BY v.ord), lk.state) AS before,
        row_number() OVER (PARTITION BY upd.target_id, upd.lane ORDER BY v.ord DESC) AS last
      FROM v JOIN upd ON upd.id = v.id
      LEFT JOIN lk ON lk.target_id = upd.target_id AND lk.lane = upd.lane
      WHERE upd.lane IS NOT NULL
    ), lw AS (
      UPDATE ${s}.lanes l SET state = w.lane_state, ready_at = w.lane_ready, leased_until = NULL, reason = w.lane_reason,
        since = CASE WHEN w.lane_state = 'active' THEN NULL ELSE COALESCE(l.since, $13) END
      FROM w WHERE w.last = 1 AND l.target_id = w.target_id AND l.lane = w.lane
    )
    SELECT v.id, upd.id IS NOT NULL AS settled, upd.lane IS NOT NULL AS laned, w.before
    FROM v LEFT JOIN upd ON upd.id = v.id LEFT JOIN w ON w.ord = v.ord ORDER BY v.ord`);
}

/** The lane a keeping outcome leaves, as planLanes writes it. */
function laneWrite(s: Settlement): { state: string; readyAt: number | null; reason: string | null } {
  const d = s.decision;
  if (d.kind === 'retry') return { state: 'active', readyAt: d.availableAt, reason: null };
  if (d.kind === 'park') return { state: 'parked', readyAt: null, reason: d.reason };
  if (d.kind === 'stall') return { state: 'stalled', readyAt: d.availableAt, reason: d.reason };
  throw new Error(`a '${d.kind}' outcome moves its lane on`);
}

/** Settlements for which holdsLanes holds, in one round trip. Retried whole on a deadlock. */
export async function settleHolding(db: pg.Pool, statement: Statement, settlements: readonly Settlement[], now: number): Promise<SettleResult[]> {
  const lanes = settlements.map(laneWrite);
  const rows = await retrying(() => run<{ id: number; settled: boolean; laned: boolean; before: string | null }>(db, statement, [
    ...settleParameters(settlements, now), lanes.map((l) => l.state), lanes.map((l) => l.readyAt), lanes.map((l) => l.reason),
  ], true));
  return settlements.map((s, i) => {
    const row = rows[i];
    if (!row?.settled) return 'fenced';
    if (!row.laned || s.decision.kind === 'retry') return 'ok';
    return row.before === lanes[i]!.state ? 'ok' : 'blocked';
  });
}
