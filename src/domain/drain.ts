import type { MessageStatus } from './message.js';

/**
 * Draining (test setups): deliver everything that is due now, then say what is left and why.
 *
 * A drain works in rounds. A round notes the newest live delivery (its watermark), wakes the
 * dispatcher and waits until no delivery up to the watermark is due or in flight. Work created
 * meanwhile (an endpoint that sends or publishes more, a notification) has a higher id and is
 * the next round's. With `skipBackoff`, each round first makes waiting retries due now, so a
 * failing delivery moves through its attempts at once, up to its dead letter, park or stall.
 * The drain is complete when a round ends with nothing due or in flight at all (and, with
 * `skipBackoff`, no retry waiting). A deferred attempt (answered 202) is not in flight for a
 * drain: nothing Offload does moves it until the work completes it or its deadline passes, so a
 * drain reports it as `awaiting-completion` instead of waiting out `asyncTimeout`.
 */

/** Why a delivery is not delivered (yet). */
export type UndeliveredReason =
  /** Due now: the dispatcher takes it next (only seen when a drain stops early). */
  | 'due'
  /** An attempt is running (only seen when a drain stops early). */
  | 'in-flight'
  /**
   * Its endpoint answered 202 and the work has not reported its outcome yet
   * (`POST /v1/deliveries/{token}/complete`); a drain does not wait for it.
   */
  | 'awaiting-completion'
  /** Waits for its `deliverAt` (or behind such a message in its lane). */
  | 'scheduled'
  /** Waits for its next attempt (or behind such a message in its lane). */
  | 'retrying'
  /** Its fifo key is parked: it waits for an operator. */
  | 'parked'
  /** Its subscription (or key) is stalled: it retries at the capped backoff and waits for an operator. */
  | 'stalled'
  /**
   * Its lane waits for the lease of a call a seek fenced (for a deferred call, its asyncTimeout
   * deadline) to end, so that one call per lane at a time still holds.
   */
  | 'fenced'
  /** Its queue, topic or subscription is paused. */
  | 'paused'
  /** The circuit breaker of its endpoint is open. */
  | 'breaker-open'
  /** Its endpoint answered 429/503 with Retry-After, and (adaptive) every call to it waits until then. */
  | 'retry-after'
  | 'deadlettered'
  | 'skipped';

/** Why nothing is sent to a target's endpoint now: a drain does not wait for it. */
export type HeldReason = 'breaker-open' | 'retry-after';

/** What a drain needs to know of one live delivery. */
export interface DrainCandidate {
  deliveryId: number;
  target: string;
  lane: string | null;
  status: MessageStatus;
  attempts: number;
  /** When it may be tried, or (delivering) when its lease expires. */
  availableAt: number;
  laneState: 'active' | 'parked' | 'stalled' | null;
  /** Ordered targets: the lane's head (the only one a claim can take). */
  head: boolean;
  paused: boolean;
  /** While its current attempt is deferred (answered 202): when the completion is due; else null. */
  deferredUntil: number | null;
  /**
   * Ordered targets: until when its lane is held by a call in flight (null: none). A lane held
   * while none of its deliveries is in flight waits for a call a seek fenced to end.
   */
  laneLeasedUntil: number | null;
}

export interface DrainAssessment<T extends DrainCandidate> {
  /** Deliveries due or in flight (up to the watermark, when given): what a round waits for. */
  busy: number;
  /** Retries waiting for their backoff that `skipBackoff` makes due now. */
  waitingRetries: number;
  /** Every candidate with its reason, in input order. */
  items: Array<{ delivery: T; reason: UndeliveredReason }>;
}

/**
 * Classifies live deliveries. A lane moves only through its head, so a delivery behind the head
 * takes the head's reason; only heads, unordered deliveries and deliveries in flight count.
 * `held` names targets whose endpoint takes no call now: its circuit breaker is open, or an
 * adaptive endpoint's Retry-After holds every call back.
 */
export function assessDrain<T extends DrainCandidate>(live: readonly T[], options: { now: number; held: ReadonlyMap<string, HeldReason>; upTo?: number | null }): DrainAssessment<T> {
  const headReason = new Map<string, UndeliveredReason>();
  for (const d of live) if (d.lane !== null && d.head) headReason.set(laneOf(d), reasonOf(d, options));
  let busy = 0;
  let waitingRetries = 0;
  const items = live.map((delivery) => {
    const own = reasonOf(delivery, options);
    const moves = delivery.lane === null || delivery.head || own === 'in-flight';
    if (moves && (own === 'due' || own === 'in-flight') && (options.upTo == null || delivery.deliveryId <= options.upTo)) busy++;
    if (moves && own === 'retrying') waitingRetries++;
    if (moves) return { delivery, reason: own };
    const ahead = headReason.get(laneOf(delivery)) ?? own;
    // Behind a head that is due or in flight, it is due next.
    return { delivery, reason: ahead === 'in-flight' ? 'due' : ahead };
  });
  return { busy, waitingRetries, items };
}

function laneOf(d: DrainCandidate): string {
  return `${d.target}\u0000${d.lane}`;
}

function reasonOf(d: DrainCandidate, options: { now: number; held: ReadonlyMap<string, HeldReason> }): UndeliveredReason {
  if (d.status === 'delivering') return d.deferredUntil === null ? 'in-flight' : 'awaiting-completion';
  if (d.paused) return 'paused';
  if (d.laneState === 'parked') return 'parked';
  if (d.laneState === 'stalled') return 'stalled';
  const held = options.held.get(d.target);
  if (held !== undefined) return held;
  if (d.laneLeasedUntil !== null && d.laneLeasedUntil > options.now) return 'fenced';
  if (d.availableAt > options.now) return d.attempts > 0 ? 'retrying' : 'scheduled';
  return 'due';
}
