import type { Settlement, SettleResult } from '../port.js';

/*
 * Lanes across instances: why no interleaving loses a delivery or puts two of a lane in flight.
 *
 * Invariants: (I1) every live delivery of a lane has its `lanes` row, or it would never be
 * claimed; (I2) at most one delivery (or one ordered batch) of a lane is in flight.
 *
 * Rules every transaction follows:
 * (R1) Only a transaction holding the lane row lock deletes the row, and it decides the lane is
 *      empty in a statement that started after the lock was granted. Under READ COMMITTED each
 *      statement takes a new snapshot, so that statement sees every delivery committed by a
 *      transaction that held the lock before.
 * (R2) A transaction that makes a delivery of a lane live (send, sendWithin, redrive,
 *      redeliverSkipped) upserts the lane row with ON CONFLICT DO UPDATE. If the row exists, DO
 *      UPDATE locks it until commit (with `WHERE false` it locks without writing a new version);
 *      if the row it conflicted with is deleted while it waits, PostgreSQL retries the insert
 *      and creates the row. DO NOTHING would neither wait nor lock, so a concurrent emptying
 *      settlement could delete the row after the insert's check: an orphan (breaks I1).
 * (R3) Lock order: topic rows (in channel id order), then lane rows (sorted by target, lane),
 *      then live delivery rows. Sends write new delivery rows (invisible to everyone else) and
 *      redrives final ones (which live-path transactions never touch) before their lane upsert,
 *      which keeps the order. Claims never wait on lanes (SKIP LOCKED). A deadlock left (an
 *      outbox transaction calling sendWithin for several channels in another order) is detected
 *      by PostgreSQL; the store retries its own transactions.
 *
 * R1 + R2 give I1 for any pair "makes live" (A) / "deletes" (D): if D locked first, A's upsert
 * waits for D's commit and re-creates the row; if A locked first, D gets the lock after A
 * committed and its emptiness check sees A's delivery, so it does not delete.
 *
 * The pairs:
 * - send vs settle (delivered/dead-lettered, the lane's last delivery): the case above.
 * - send vs claim finding a lane empty: the claim locks lanes in one statement and reads heads
 *   in the next (R1), so the case above again; lanes locked by a send are skipped.
 * - send vs skipLaneHead (deletes the lane when the skipped head was the last): skip locks the
 *   lane first, reads the next head in a later statement: the case above.
 * - redrive / redeliverSkipped vs settle or skip: they make final deliveries live, then upsert
 *   the lane (R2, with LEAST(ready_at) so the redriven head is due now): the case above. A
 *   redriven delivery goes back ahead of an in-flight one; `leased_until` keeps it waiting (I2).
 * - retryLane vs claim / settle: retryLane's first statement is the lane UPDATE (lock); it waits
 *   for a claim or settlement holding the lane and then applies to the row they left. It never
 *   clears `leased_until`, so a head claimed in between is not claimed twice, and it makes the
 *   head due only when it is `ready`.
 * - hurryRetries vs claim / settle: it locks the waiting, unleased lanes in (target, lane) order
 *   like a settlement (R3), and reads their heads in a later statement (R1), so a head settled
 *   or claimed meanwhile is seen as it is now, and the lane row is re-checked against
 *   `leased_until` when locked. It moves only a `ready` head and never `leased_until` (I2).
 * - release vs claim: release locks the lane, returns the deliveries and clears `leased_until`;
 *   claims skip the lane meanwhile and find it due afterwards.
 * - renew vs anything: renewal takes no lock it would wait for (SKIP LOCKED on delivery and
 *   lane rows), so no transaction, not even an application's outbox transaction holding a lane
 *   for seconds, can make leases expire by holding up their renewal. The delivery row's
 *   available_at is the lease; the lane's `leased_until` is a hint a renewal updates when the
 *   lane is free. Against a claim taking an expired lease over: the claim reads heads with their
 *   rows locked (after the lane lock, R1), so it sees a renewal committed before, and a renewal
 *   that comes after finds the row locked or its epoch moved on and reports the lease lost.
 * - settle vs claim (takeover of an expired lease): whichever locks the lane first wins; the epoch
 *   fences the settlement that comes second.
 * - claim vs claim: SKIP LOCKED, and a lane whose row changed is re-checked against
 *   `leased_until <= now` by PostgreSQL before it is locked (EvalPlanQual), so it is claimed once.
 * - sweep / purgeDeadLetters: delete only delivered or dead-lettered rows, never live ones, and
 *   never touch lanes. Racing a redrive, both lock the same rows and the later re-checks status.
 * - declare (new subscription, backfilled): it locks the topic row like a publisher (R3), so a
 *   concurrent publish either committed before the backfill reads (and is backfilled) or fans
 *   out after the subscription is visible. Its lanes exist before anyone can see the subscription.
 *
 * Topic sequences: publishing takes the topic row lock (UPDATE ... last_sequence) in its first
 * statement and holds it to commit, so sequences are handed out and committed in one order per
 * topic: no subscriber can see N+1 before N is committed.
 *
 * The price of R2 and of commit-ordered sequences: a publisher holds the topic row and the lanes
 * it appended to until it commits. Meanwhile other publishers to that topic wait, claims skip
 * those lanes and settlements in them wait. The store's own sends commit within milliseconds; an
 * outbox transaction holds them until the application commits, which is why sendWithin belongs
 * at the end of the application's transaction, followed promptly by COMMIT.
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

/** The delivery row change a decision makes (status, available_at, last_error). */
export function deliveryChange(s: Settlement, now: number): { status: string; availableAt: number | null; reason: string | null } {
  const d = s.decision;
  switch (d.kind) {
    case 'delivered':
      return { status: 'delivered', availableAt: null, reason: null };
    case 'deadletter':
      return { status: 'deadlettered', availableAt: null, reason: d.reason };
    case 'park':
      return { status: 'ready', availableAt: now, reason: d.reason };
    default:
      return { status: 'ready', availableAt: d.availableAt, reason: d.reason };
  }
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
