import { isLive, nextDeliveryState, type DeliveryState } from '../domain/delivery-state.js';
import type { Settlement, SettleResult } from './port.js';

/*
 * What a batch of settlements does to the lanes it touches, decided once for both adapters: each
 * adapter reads the lanes' states and heads, asks planLanes, and writes the result.
 */

export interface SettledRow {
  id: number;
  target_id: number;
  lane: string | null;
  position: number;
}

export interface LaneHead {
  target_id: number;
  lane: string;
  id: number;
  position: number;
  status: string;
  available_at: number;
}

export type LaneWrite =
  | { targetId: number; lane: string; kind: 'delete' }
  | { targetId: number; lane: string; kind: 'set'; state: 'active' | 'parked' | 'stalled'; readyAt: number | null; reason: string | null };

export const laneKey = (targetId: number, lane: string): string => `${targetId}\u0000${lane}`;

/** The delivery row change a decision makes (status, available_at, last_error), as the domain's transition table says. */
export function deliveryChange(s: Settlement, now: number): { status: DeliveryState; availableAt: number | null; reason: string | null } {
  const d = s.decision;
  const status = nextDeliveryState('delivering', `decide:${d.kind}`);
  if (status === null || status === 'deleted') throw new Error(`no transition for a '${d.kind}' decision`);
  if (!isLive(status)) return { status, availableAt: null, reason: d.kind === 'deadletter' ? d.reason : null };
  // A parked head waits for an operator: due now, but its lane is not claimable.
  return { status, availableAt: d.kind === 'park' ? now : 'availableAt' in d ? d.availableAt : now, reason: 'reason' in d ? d.reason : null };
}

/**
 * What a batch of settlements does to its lanes, with the same outcome as applying them one by
 * one in order (as the SQLite adapter does): the last write per lane wins, and a settlement that
 * moves a lane on looks at the head the lane had at that point: the head after the whole batch,
 * or a delivery settled later in the batch (then still in flight, so the lane is left alone).
 *
 * `rows` holds, per settlement in order, its updated delivery or undefined when fenced; `states`
 * the lanes' states when locked; `heads` each lane's head after the batch.
 */
export function planLanes(
  settlements: readonly Settlement[],
  rows: ReadonlyArray<SettledRow | undefined>,
  states: ReadonlyMap<string, string>,
  heads: ReadonlyMap<string, LaneHead>,
  now: number,
): { results: SettleResult[]; writes: LaneWrite[] } {
  const inLane = new Map<string, Array<{ index: number; id: number; position: number }>>();
  rows.forEach((row, index) => {
    if (row?.lane == null) return;
    const key = laneKey(row.target_id, row.lane);
    inLane.set(key, [...(inLane.get(key) ?? []), { index, id: row.id, position: row.position }]);
  });
  const state = new Map(states);
  const writes = new Map<string, LaneWrite>();
  const results = settlements.map((s, index): SettleResult => {
    const row = rows[index];
    if (!row) return 'fenced';
    if (row.lane === null) return 'ok';
    const key = laneKey(row.target_id, row.lane);
    if (writes.get(key)?.kind === 'delete') return 'ok';
    const base = { targetId: row.target_id, lane: row.lane };
    const d = s.decision;
    if (d.kind === 'delivered' || d.kind === 'deadletter') {
      const later = (inLane.get(key) ?? []).filter((p) => p.index > index);
      const head = headAt(heads.get(key), later);
      if (!head) {
        writes.set(key, { ...base, kind: 'delete' });
        state.delete(key);
      } else if (head.status !== 'delivering') {
        writes.set(key, { ...base, kind: 'set', state: 'active', readyAt: Math.max(now, head.availableAt), reason: null });
        state.set(key, 'active');
      }
      return 'ok';
    }
    if (d.kind === 'retry') {
      writes.set(key, { ...base, kind: 'set', state: 'active', readyAt: d.availableAt, reason: null });
      state.set(key, 'active');
      return 'ok';
    }
    const blocked = d.kind === 'park' ? 'parked' : 'stalled';
    const before = state.get(key);
    writes.set(key, { ...base, kind: 'set', state: blocked, readyAt: d.kind === 'park' ? null : d.availableAt, reason: d.reason });
    state.set(key, blocked);
    return before === blocked ? 'ok' : 'blocked';
  });
  return { results, writes: [...writes.values()] };
}

function headAt(
  finalHead: LaneHead | undefined,
  later: ReadonlyArray<{ id: number; position: number }>,
): { status: string; availableAt: number } | undefined {
  const laterIds = new Set(later.map((p) => p.id));
  let best: { position: number; status: string; availableAt: number } | undefined;
  if (finalHead) {
    best = { position: finalHead.position, status: laterIds.has(finalHead.id) ? 'delivering' : finalHead.status, availableAt: finalHead.available_at };
  }
  for (const p of later) if (!best || p.position < best.position) best = { position: p.position, status: 'delivering', availableAt: 0 };
  return best;
}
