
/*
 * Lanes across instances: why no interleaving loses a delivery or puts two of a lane in flight.
 *
 * Invariants: (I1) every live delivery of a lane has its `lanes` row, or it would never be
 * claimed; (I2) at most one delivery (or one ordered batch) of a lane is in flight.
 *
 * The claim of lanes and the settle-and-claim of delivered heads run as functions (migration 13,
 * lane-functions.ts): one round trip each, their statements in the order below, each statement
 * with its own snapshot as in a transaction of separate statements. Since migration 15
 * (lane-functions-head-floor.ts) a settle-and-claim claims the lanes it moved on from the heads
 * it found: it holds their locks in between, and by R2 no delivery below them can go live.
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
 * - retry / stall / park settlements (lane-holds.ts): one statement that locks the lanes before
 *   the delivery rows (R3) and keeps each head where it is, so it deletes no lane and reads no
 *   head (nothing for R1 to guard); against anything else it is a settlement holding the lanes.
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
 * - seek (retention.ts): it locks the topic row like a publisher, then every lane of the
 *   subscription in lane order (R3), so a claim or settlement of the subscription has committed
 *   before it or starts after it (claims skip the held lanes). It fences the deliveries in flight
 *   (epoch + 1: their settlement and renewal find the epoch moved on) and raises each such lane's
 *   `leased_until` to the lease the fenced call held (I2). Lanes it fills are upserted (R2), lanes
 *   it empties are deleted by a later statement (R1) unless a fenced call's lease still runs.
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

export { deliveryChange, laneKey, planLanes, type LaneHead, type LaneWrite, type SettledRow } from '../lane-plan.js';
