import { deliveryChange, laneKey, planLanes, type LaneHead, type SettledRow } from '../lane-plan.js';
import type { Settlement, SettleResult } from '../port.js';
import type { Tally } from './counters.js';
import type { Statements } from './statements.js';

/**
 * Applies a batch of settlements inside the caller's transaction: each delivery is fenced by its
 * epoch and its attempt recorded (a fenced attempt too, marked so: the call did happen; the same
 * attempt settled again is no new call and records nothing); then the lanes move as planLanes
 * decides, once per lane (a batch of 100 events advances its lane once), exactly as the
 * PostgreSQL adapter moves them. A delivery settled twice in one batch is fenced
 * the second time. The counters' changes go into `tally`, which the caller writes before it commits.
 */
export function settleAll(sql: Statements, settlements: readonly Settlement[], now: number, tally: Tally): SettleResult[] {
  const seen = new Set<number>();
  const first = settlements.map((s) => !seen.has(s.deliveryId) && Boolean(seen.add(s.deliveryId)));
  const batch = settlements.filter((_, i) => first[i]);
  const states = new Map<string, string>();
  const rows = batch.map((s): SettledRow | undefined => {
    const change = deliveryChange(s, now);
    const row = sql.settling.get(s.deliveryId, s.epoch);
    if (row) sql.settle.run(change.status, change.availableAt, change.reason, change.status === 'delivered' ? 1 : 0, s.result ?? null, now, s.deliveryId);
    const a = s.attempt;
    const startedAt = Math.round(a.startedAt);
    const durationMs = Math.round(a.durationMs);
    if (row) sql.insertAttempt.run(s.deliveryId, a.attempt, startedAt, durationMs, a.statusCode, a.error, a.response);
    else sql.insertFencedAttempt.run(s.deliveryId, a.attempt, startedAt, durationMs, a.statusCode, a.error, a.response, s.deliveryId, s.epoch);
    if (!row) return undefined;
    const d = s.decision.kind;
    tally.add(row.target_id, {
      inFlight: -1,
      depth: d === 'delivered' || d === 'deadletter' ? -1 : 0,
      delivered: d === 'delivered' ? 1 : 0,
      deadlettered: d === 'deadletter' ? 1 : 0,
      sequence: d === 'delivered' ? row.position : 0,
    });
    if (row.lane !== null && d === 'delivered') sql.advanceCursor.run(row.target_id, row.lane, row.message_pk);
    if (row.lane !== null) {
      const key = laneKey(row.target_id, row.lane);
      // Read with the row: no lane is written before the plan below, so every row of a lane sees the same state.
      if (!states.has(key)) states.set(key, row.lane_state ?? 'active');
    }
    return { id: row.id, target_id: row.target_id, lane: row.lane, position: row.position };
  });
  const heads = new Map<string, LaneHead>();
  batch.forEach((s, i) => {
    const row = rows[i];
    if (row?.lane == null || (s.decision.kind !== 'delivered' && s.decision.kind !== 'deadletter')) return;
    const key = laneKey(row.target_id, row.lane);
    if (heads.has(key)) return;
    const head = sql.nextHead.get(row.target_id, row.lane);
    if (head) heads.set(key, { target_id: row.target_id, lane: row.lane, ...head });
  });
  const plan = planLanes(batch, rows, states, heads, now);
  for (const w of plan.writes) {
    if (w.kind === 'delete') sql.deleteLane.run(w.targetId, w.lane);
    else sql.setLane.run({ state: w.state, readyAt: w.readyAt, reason: w.reason, now, targetId: w.targetId, lane: w.lane });
  }
  let k = 0;
  return settlements.map((_, i) => (first[i] ? plan.results[k++]! : 'fenced'));
}
