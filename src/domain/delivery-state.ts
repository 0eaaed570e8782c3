import type { MessageStatus } from './message.js';

/**
 * The delivery state machine: what is stored about a delivery and its lane, what moves them, and
 * the status a user sees. Adapters carry out these transitions; they do not invent others.
 *
 * A delivery is one message on its way to one target (a queue, or one subscription of a topic).
 * Ordered targets (fifo queues, subscriptions) keep their deliveries in lanes; a lane's head is
 * its first live delivery in position order, and only the head (or a batch from it) is ever in
 * flight.
 *
 * Stored delivery states (`deliveries.status`)
 *
 * - `ready` (live): waiting until `availableAt`, then claimable, unless it is in a lane and not
 *   its head, or its lane is parked, or its target is paused.
 *     in:  send or publish (attempts 0); a `retry`, `stall` or `park` decision; `release` (attempt
 *          given back); `hurry-retries` (a drain that skips the backoff: due now, attempts and
 *          position unchanged; not for parked or stalled heads, nor for a `deliverAt` still
 *          ahead); `redrive` of a dead letter or `redeliver` of a skipped delivery (attempts
 *          restart at 0); `retryLane` on a lane's head (attempts restart at 0).
 *     out: `claim` -> delivering; `skip` (lane head only) -> skipped; `expire` (plain queues: its
 *          `expiresAt` has passed) -> deadlettered. A claim never takes an expired delivery.
 * - `delivering` (live): leased to one owner with an epoch until `availableAt`. Each claim adds 1
 *   to attempts and to the epoch; only the holder of the current epoch may settle.
 *     in:  `claim`.
 *     out: the attempt's decision: `delivered` -> delivered, `deadletter` -> deadlettered, `retry`,
 *          `stall`, `park` -> ready; `release` -> ready; lease expiry changes nothing stored: the
 *          delivery becomes claimable again and the next `claim` takes it over (new epoch, so the
 *          stale holder's settlement is fenced: it changes nothing). An expired lease of an expired
 *          delivery: `expire` -> deadlettered. A delivery whose lease is current is never
 *          expired: its attempt finishes, and `decide` dead-letters it (reason `expired`) instead of
 *          retrying after its `expiresAt`.
 *   Deferred (asynchronous acknowledgement) is a kind of `delivering`, not a state of its own:
 *   the endpoint answered 202 on a target with `asyncTimeout`, so the attempt waits for
 *   `POST /v1/deliveries/{token}/complete`. `defer` marks the current epoch deferred (when, and
 *   the deadline) and holds the lease (and so the lane) until the deadline plus one lease; the
 *   completion is the attempt's decision, fenced by the token's epoch like any settlement.
 *   `async-timeout` takes an expired deferral over (new epoch, attempts unchanged: the attempt
 *   was counted at its claim), so a late completion is fenced, and the taker settles the
 *   attempt as failed ("asynchronous completion timed out": retry, stall, park or dead-letter).
 * - `delivered` (final): the endpoint accepted it.
 *     in:  a `delivered` decision.
 *     out: `sweep` deletes it once every delivery of its message is delivered and the message is
 *          older than the retention.
 * - `deadlettered` (final): attempts ran out, or a permanent failure, on a plain queue (or a fifo
 *   queue with `onExhausted: deadletter`); or its time to live ran out (plain queues, reason
 *   `expired`).
 *     in:  a `deadletter` decision; `expire`.
 *     out: `redrive` -> ready (attempts 0, back in its lane at its old position; an expiring
 *          message gets its time to live again, counted from the redrive); `purge` deletes.
 * - `skipped` (final): an operator moved a lane's head aside, or a seek forward passed it; kept
 *   with its history.
 *     in:  `skip`; `seek-skip`.
 *     out: `redeliver` -> ready (attempts 0, back in its lane at its old position); `seek-replay`
 *          (a seek back to or before it) -> ready (attempts 0; it takes the next lane position
 *          after its lane's rewound cursor, as it was never delivered).
 *
 * Seeking a subscription (src/domain/seek.ts) moves every delivery of it at once:
 * - `seek-replay`: a delivered event at or after the point (or a kept one the subscription never
 *   had: `new`) becomes ready with attempts 0; a live one there (ready, or delivering: fenced, its
 *   epoch moves on) stays ready with a fresh budget; a skipped one there (skipped by an earlier
 *   seek forward or by an operator) becomes ready too, like Pub/Sub's seek: every kept event at or
 *   after the point that passes the current filter is delivered. Dead-lettered ones stay final.
 * - `seek-skip`: a live event before the point (ready, or delivering: fenced) becomes skipped.
 *
 * Lane states (`lanes.state`; a lane row exists while the lane has live deliveries or is blocked)
 *
 * - `active`: its head is claimed when due; the lane is leased while its head is in flight.
 *     in:  the first delivery of the lane is sent; a `retry` decision; `retryLane`; `skip`.
 *     out: a `park` decision -> parked; a `stall` decision -> stalled; the lane's last live
 *          delivery leaves it (delivered, dead-lettered, skipped) -> the row is deleted.
 * - `parked` (fifo queues with `onExhausted: block`): the lane stops at its head, which stays
 *   `ready` (shown `parked`) and is never claimed until an operator acts. Other keys go on.
 *     in:  a `park` decision.
 *     out: `retryLane` -> active (head available now, attempts 0); `skip` -> active with the next
 *          head (or deleted when none is left).
 * - `stalled` (subscriptions): the lane keeps retrying its head at the capped backoff, and is
 *   reported once. A later `delivered` decision moves it on and makes it active again.
 *     in:  a `stall` decision.
 *     out: `delivered` -> active (next head) or deleted; `retryLane` -> active (head available
 *          now, attempts 0); `skip` -> active with the next head (or deleted).
 *
 * Questions this answers
 * - A parked head on redrive: nothing happens. A parked head is `ready`, not `deadlettered`;
 *   redrive only reopens dead letters. Use `retryLane` (or skip). A dead letter redriven into a
 *   lane that is parked or stalled rejoins the lane at its old position and waits with it: the
 *   lane stays blocked until `retryLane` or `skip`.
 * - A lease that expires while the call still runs: the delivery is taken over by the next claim
 *   (possibly on another instance); the old call's settlement is fenced. At most one call per
 *   lane is *started* per lease, not per wall-clock moment.
 * - A deferred head: the lane is blocked exactly as while its call runs (one in flight per lane),
 *   until the completion or the deadline. A restart changes nothing: the deferral is stored.
 * - `release` (graceful shutdown) gives the attempt back: attempts decrease by one, the lane is
 *   unleased, and the delivery is claimable now.
 */

export type DeliveryState = 'ready' | 'delivering' | 'delivered' | 'deadlettered' | 'skipped';
export type LaneState = 'active' | 'parked' | 'stalled';

export const DELIVERY_STATES: readonly DeliveryState[] = ['ready', 'delivering', 'delivered', 'deadlettered', 'skipped'];
export const LANE_STATES: readonly LaneState[] = ['active', 'parked', 'stalled'];

/** Live deliveries have an `availableAt` (retry time or lease expiry); final ones have none. */
export function isLive(state: DeliveryState): state is 'ready' | 'delivering' {
  return state === 'ready' || state === 'delivering';
}

/** Everything that moves a stored delivery. Decisions are the dispatcher's; the rest are operators' or retention's. */
export type DeliveryEvent =
  | 'send'
  | 'claim'
  | 'decide:delivered'
  | 'decide:retry'
  | 'decide:stall'
  | 'decide:park'
  | 'decide:deadletter'
  | 'lease-expiry'
  | 'defer'
  | 'async-timeout'
  | 'release'
  | 'redrive'
  | 'retry-lane'
  | 'hurry-retries'
  | 'expire'
  | 'skip'
  | 'redeliver'
  | 'purge'
  | 'sweep'
  | 'seek-replay'
  | 'seek-skip';

export const DELIVERY_EVENTS: readonly DeliveryEvent[] = [
  'send', 'claim', 'decide:delivered', 'decide:retry', 'decide:stall', 'decide:park', 'decide:deadletter',
  'lease-expiry', 'defer', 'async-timeout', 'release', 'redrive', 'retry-lane', 'hurry-retries', 'expire', 'skip', 'redeliver', 'purge', 'sweep',
  'seek-replay', 'seek-skip',
];

export interface DeliveryTransition {
  /** States the event applies to (`new` for a delivery that does not exist yet). */
  from: ReadonlyArray<DeliveryState | 'new'>;
  /** The state after it; `deleted` when the row goes away. */
  to: DeliveryState | 'deleted';
  attempts: 'zero' | 'plus-one' | 'minus-one' | 'same' | 'restart';
  /** Only deliveries that are the head of their lane (ordered targets). */
  headOnly?: true;
  /** Only when the holder's epoch is current; a stale holder's event changes nothing (fenced). */
  fenced?: true;
  /** What the event does to the delivery's lane, for ordered targets. */
  lane: string;
}

/** The transition table. `nextDeliveryState` and the adapters follow it. */
export const DELIVERY_TRANSITIONS: Readonly<Record<DeliveryEvent, DeliveryTransition>> = {
  send: { from: ['new'], to: 'ready', attempts: 'zero', lane: 'created active when missing; a blocked lane stays blocked' },
  claim: { from: ['ready', 'delivering'], to: 'delivering', attempts: 'plus-one', lane: 'leased until the lease expires; never while leased, parked or not yet due' },
  'decide:delivered': { from: ['delivering'], to: 'delivered', attempts: 'same', fenced: true, lane: 'moves to the next head, active; deleted when empty' },
  'decide:retry': { from: ['delivering'], to: 'ready', attempts: 'same', fenced: true, lane: 'active, due at the retry time' },
  'decide:stall': { from: ['delivering'], to: 'ready', attempts: 'same', fenced: true, lane: 'stalled, due at the capped backoff' },
  'decide:park': { from: ['delivering'], to: 'ready', attempts: 'same', fenced: true, lane: 'parked: not claimable until retry-lane or skip' },
  'decide:deadletter': { from: ['delivering'], to: 'deadlettered', attempts: 'same', fenced: true, lane: 'moves to the next head, active; deleted when empty' },
  'lease-expiry': { from: ['delivering'], to: 'delivering', attempts: 'same', lane: 'claimable again: the next claim takes the delivery over' },
  defer: { from: ['delivering'], to: 'delivering', attempts: 'same', fenced: true, lane: 'stays leased (blocked) until the deadline plus one lease' },
  'async-timeout': { from: ['delivering'], to: 'delivering', attempts: 'same', lane: 'still leased, by the taker, which settles the attempt as failed' },
  release: { from: ['delivering'], to: 'ready', attempts: 'minus-one', fenced: true, lane: 'unleased, due now' },
  redrive: { from: ['deadlettered'], to: 'ready', attempts: 'restart', lane: 'rejoins at its old position; a blocked lane stays blocked' },
  'retry-lane': { from: ['ready'], to: 'ready', attempts: 'restart', headOnly: true, lane: 'active, head due now' },
  'hurry-retries': { from: ['ready'], to: 'ready', attempts: 'same', lane: 'active lanes only: the waiting head becomes due now; blocked lanes stay as they are' },
  expire: { from: ['ready', 'delivering'], to: 'deadlettered', attempts: 'same', lane: 'none: only plain queues expire; a delivering one only once its lease expired' },
  skip: { from: ['ready'], to: 'skipped', attempts: 'same', headOnly: true, lane: 'active with the next head; deleted when empty' },
  redeliver: { from: ['skipped'], to: 'ready', attempts: 'restart', lane: 'rejoins at its old position; a blocked lane stays blocked' },
  purge: { from: ['deadlettered'], to: 'deleted', attempts: 'same', lane: 'unchanged (dead letters are not in a lane)' },
  sweep: { from: ['delivered'], to: 'deleted', attempts: 'same', lane: 'unchanged (delivered deliveries are not in a lane)' },
  'seek-replay': {
    from: ['delivered', 'skipped', 'ready', 'delivering', 'new'],
    to: 'ready',
    attempts: 'restart',
    lane: 'active, head due now (a stall is cleared); a lane whose call was fenced waits out that lease',
  },
  'seek-skip': {
    from: ['ready', 'delivering'],
    to: 'skipped',
    attempts: 'same',
    lane: 'active with the next head; deleted when empty, unless a fenced call still holds its lease',
  },
};

/** The state after `event`, or null when the event does not apply to a delivery in `from`. */
export function nextDeliveryState(from: DeliveryState | 'new', event: DeliveryEvent): DeliveryState | 'deleted' | null {
  const t = DELIVERY_TRANSITIONS[event];
  return t.from.includes(from) ? t.to : null;
}

/**
 * The state of a lane after an event on its head. `null` means the lane row is deleted (its last
 * live delivery left); `undefined` means the event does not apply to this lane.
 */
export function nextLaneState(from: LaneState | 'none', event: DeliveryEvent, liveLeft: boolean): LaneState | null | undefined {
  switch (event) {
    case 'send':
    case 'redrive':
    case 'redeliver':
      return from === 'none' ? 'active' : from;
    case 'claim':
      return from === 'active' || from === 'stalled' ? from : undefined;
    case 'decide:retry':
    case 'retry-lane':
      return from === 'none' ? undefined : 'active';
    case 'decide:stall':
      return from === 'none' ? undefined : 'stalled';
    case 'decide:park':
      return from === 'none' ? undefined : 'parked';
    case 'decide:delivered':
    case 'decide:deadletter':
    case 'skip':
      if (from === 'none') return undefined;
      return liveLeft ? 'active' : null;
    case 'hurry-retries':
      return from === 'active' ? 'active' : undefined;
    case 'lease-expiry':
    case 'defer':
    case 'async-timeout':
    case 'release':
      return from === 'none' ? undefined : from;
    case 'expire':
    case 'purge':
    case 'sweep':
      return undefined; // final deliveries are no longer in a lane
    case 'seek-replay':
      return 'active';
    case 'seek-skip':
      return liveLeft ? 'active' : null;
  }
}

/**
 * Why an operator's retry or skip of a lane's head does not apply, or undefined when it does: it
 * is for a blocked lane (parked, stalled) or a head that failed and waits for its retry. A head
 * that has not failed (queued, or waiting for its `deliverAt`) has nothing to retry or skip: the
 * action would hurry a delay or drop healthy work, most likely under a mistyped key. A head in
 * flight is retried or skipped only once its attempt ends.
 */
export function laneActionRefusal(action: 'retry' | 'skip', lane: string, state: LaneState, head: { status: string; attempts: number } | undefined): string | undefined {
  const blocked = state !== 'active';
  // A stalled lane's head is tried again every maxBackoff: a retry meanwhile could not give it
  // the fresh attempts it promises, and a skip would race the call.
  // The one lane of a topic-ordered subscription has the empty key: it is the subscription.
  const which = lane === '' ? 'the subscription' : `'${lane}'`;
  if (head?.status === 'delivering') {
    return `the head of ${which} is being delivered right now; ${action} it once the attempt ends, if it fails`;
  }
  if (blocked || head === undefined || head.attempts > 0) return undefined;
  return `${which} is not blocked and its head has not failed (it is queued or waiting for its time): nothing to ${action}`;
}

/** What the status derivation needs to know about one stored delivery. */
export interface StoredDelivery {
  state: DeliveryState;
  attempts: number;
  /** Live deliveries: the retry time, or the lease expiry while delivering. Null when final. */
  availableAt: number | null;
  /** The state of the lane this delivery heads; null when it is not a lane's head (or unordered). */
  headOf: LaneState | null;
}

/**
 * The public status of one delivery (SPEC: `GET /v1/messages/{id}`, duplicate sends, lists, the
 * dashboard), derived from what is stored. A lane's blocked state shows on its head only: the
 * messages behind it are `queued`, since nothing is wrong with them.
 */
export function deliveryStatus(d: StoredDelivery, now: number): MessageStatus {
  switch (d.state) {
    case 'delivering':
    case 'delivered':
    case 'deadlettered':
    case 'skipped':
      return d.state;
    case 'ready':
      if (d.headOf === 'parked') return 'parked';
      if (d.headOf === 'stalled') return 'stalled';
      if (d.attempts > 0) return 'retrying';
      return d.availableAt !== null && d.availableAt > now ? 'scheduled' : 'queued';
  }
}

/** Which status of several deliveries (a topic message) speaks for the message: the one that needs attention first. */
const MESSAGE_STATUS_PRIORITY: readonly MessageStatus[] = ['stalled', 'parked', 'deadlettered', 'retrying', 'delivering', 'queued', 'scheduled', 'skipped', 'delivered'];

/** The status of a message from its deliveries' statuses; a message without deliveries (a topic without subscriptions) is `delivered`. */
export function messageStatus(statuses: readonly MessageStatus[]): MessageStatus {
  for (const s of MESSAGE_STATUS_PRIORITY) if (statuses.includes(s)) return s;
  return 'delivered';
}

/** Reads a stored status column, refusing values outside the model instead of passing them on. */
export function parseDeliveryState(value: string): DeliveryState {
  if ((DELIVERY_STATES as readonly string[]).includes(value)) return value as DeliveryState;
  throw new Error(`unknown stored delivery state '${value}'`);
}

export function parseLaneState(value: string | null): LaneState | null {
  if (value === null) return null;
  if ((LANE_STATES as readonly string[]).includes(value)) return value as LaneState;
  throw new Error(`unknown stored lane state '${value}'`);
}
