/** A message a producer was told was accepted (answered 202, or committed through the outbox). */
export interface AcceptedMessage {
  readonly id: string;
  readonly channel: string;
  /** Partition key / aggregate id: the lane for `key` ordering. */
  readonly key?: string;
  /** Topic messages: the sequence Offload assigned (commit order). */
  readonly sequence?: number;
  /** Fifo messages: the per-key order in which the producer sent them. */
  readonly order?: number;
}

/**
 * How a target must be delivered:
 * - `none`: queues; any order, any overlap;
 * - `topic`: one lane for the whole target (a subscription with ordering `topic`);
 * - `key`: one lane per key (fifo queues, subscriptions with ordering `key`).
 */
export type Ordering = 'none' | 'topic' | 'key';

/** One consumer that must receive every accepted message of `channel`. */
export interface TargetExpectation {
  /** Matches `Delivery.target`, e.g. the receiver path of a queue or subscription. */
  readonly target: string;
  readonly channel: string;
  /** Default `none`. */
  readonly ordering?: Ordering;
  /**
   * Ids deliberately not delivered here (skipped by an operator, dead-lettered): neither lost
   * nor required ahead of the messages behind them.
   */
  readonly skipped?: Iterable<string>;
}

/** One event of one request as a receiver saw it. A batch request gives several, in order. */
export interface Delivery {
  readonly target: string;
  readonly id: string;
  readonly key?: string;
  readonly sequence?: number;
  readonly attempt?: number;
  readonly startedAt: number;
  /** Absent while the request is still in flight. */
  readonly endedAt?: number;
  /** `ok` when the receiver acknowledged it with a 2xx. */
  readonly outcome: 'ok' | 'failed';
  /** Deliveries with the same `request` travelled in one request (a batch) and never overlap each other. */
  readonly request?: number | string;
}

/** A crash instant (epoch ms), or a window around it, e.g. from the last commit that could be lost to the restart. */
export type CrashWindow = number | { readonly from: number; readonly to: number };

export interface HistoryInput {
  readonly accepted: readonly AcceptedMessage[];
  readonly targets: readonly TargetExpectation[];
  readonly deliveries: readonly Delivery[];
  /** Ids known to be in flight at a crash: duplicates of these are allowed. */
  readonly inFlightAtCrash?: Iterable<string>;
  /** A delivery whose interval meets a crash window counts as in flight at that crash. */
  readonly crashes?: readonly CrashWindow[];
}

export interface MessageRef {
  readonly target: string;
  readonly id: string;
}

export interface Duplicate extends MessageRef {
  /** How many times it was acknowledged. */
  readonly count: number;
  readonly inFlightAtCrash: boolean;
}

export interface Reordering {
  readonly target: string;
  /** The lane's key for `key` ordering. */
  readonly key?: string;
  /** The first message acknowledged too early... */
  readonly id: string;
  /** ...while this one, ahead of it, was not yet acknowledged. */
  readonly before: string;
  readonly at: number;
  /** How many out-of-order acknowledgements the lane had in all. */
  readonly violations: number;
}

export interface DeliveryRef {
  readonly id: string;
  readonly startedAt: number;
  readonly endedAt?: number;
}

export interface DeliveryOverlap {
  readonly target: string;
  readonly key?: string;
  readonly first: DeliveryRef;
  readonly second: DeliveryRef;
}

export interface UnexpectedDelivery extends MessageRef {
  readonly reason: 'unknown target' | 'unknown id';
}

export interface HistoryStats {
  readonly accepted: number;
  readonly targets: number;
  readonly deliveries: number;
  readonly acknowledged: number;
}

export interface HistoryReport {
  /** No loss, no unexpected duplicate, no reordering, no overlap, nothing unexpected. */
  readonly ok: boolean;
  /** Accepted, expected at a target, and never acknowledged there. */
  readonly lost: readonly MessageRef[];
  /** Acknowledged more than once at a target; the two lists below split it. */
  readonly duplicated: readonly Duplicate[];
  /** Allowed: at-least-once delivery repeats what was in flight at a crash. */
  readonly duplicatedInFlight: readonly Duplicate[];
  readonly duplicatedUnexpected: readonly Duplicate[];
  /** At most one entry per lane: its first violation, with the lane's count. */
  readonly reordered: readonly Reordering[];
  readonly overlaps: readonly DeliveryOverlap[];
  readonly unexpected: readonly UnexpectedDelivery[];
  readonly stats: HistoryStats;
  /** A few lines for a test failure message. */
  summary(): string;
}
