import { DEFAULT_PREFETCH, type Ordering, type Target } from './channel.js';

/**
 * The workload rules of one target, answered in one place: how many claims may be in flight,
 * which lane a message joins, how many messages go in one call, when attempts have run out and
 * what happens then. The dispatcher, the configuration loader and `decide` ask the profile
 * instead of branching on `kind` and `ordering`.
 *
 * | target                      | lanes          | in flight            | batch     | attempts run out at  | then        |
 * |-----------------------------|----------------|----------------------|-----------|----------------------|-------------|
 * | queue                       | none           | concurrency messages | 1         | maxAttempts          | dead-letter |
 * | fifo (onExhausted: block)   | one per key    | concurrency keys     | 1         | maxAttempts          | park        |
 * | fifo (onExhausted: deadletter) | one per key | concurrency keys     | 1         | maxAttempts          | dead-letter |
 * | subscription, ordering key  | one per key    | concurrency keys     | 1         | stallAfterAttempts   | stall       |
 * | subscription, ordering topic| one (`''`)     | 1                    | batchSize | stallAfterAttempts   | stall       |
 *
 * Any of them may take asynchronous acknowledgements (`asyncTimeout`): a deferred attempt stays
 * leased, holding its lane, until completed or timed out; it no longer takes an `in flight` slot
 * (the receiver has the work, no call is open).
 *
 * A permanent failure runs the attempts out at once. Stalled lanes keep retrying at the capped
 * backoff: a subscription never gives an event up on its own, since skipping it breaks order.
 */
export interface TargetProfile {
  ordering: Ordering;
  /** Claims in flight at most: messages for unordered targets, lanes for ordered ones. */
  inFlight: number;
  /** Messages per call (one ordered batch from the head of a lane). */
  batchSize: number;
  /** How long a short batch may wait to fill. */
  maxBatchWaitMs: number;
  /**
   * Ordered targets that send one message per call: how many of a lane's ready messages one claim
   * takes, sent one call at a time in lane order (1: a claim per message).
   */
  prefetch: number;
  /** The whole target is one lane. */
  singleLane: boolean;
  /**
   * How a delivered call hands its slot over to the next claim, in the store step that settles it:
   * `step` when one claim is in flight at a time (a topic-ordered subscription, or any other
   * target at concurrency 1): at once, since nothing could share the step; `batch` with several
   * in flight: the answers of one turn of the event loop are settled together with the claim of
   * the slots they free.
   */
  handOver: 'step' | 'batch';
  /** Failed attempts after which the message's attempts have run out. */
  attemptsBeforeExhausted: number;
  /** What happens to a message whose attempts ran out (or that failed permanently). */
  whenExhausted: 'deadletter' | 'park' | 'stall';
  /** The lane a message with this key joins; null for unordered targets. */
  laneOf(key: string | null): string | null;
  /**
   * Asynchronous acknowledgement: how long a 202 answer may wait for its completion, or null when
   * a 202 is a plain success. A deferred attempt holds its lane like a call in flight.
   */
  asyncTimeoutMs: number | null;
}

/** The lane a message with this key joins on a target of this ordering; null for unordered targets. Stores ask this too. */
export function laneFor(ordering: Ordering, key: string | null): string | null {
  return ordering === 'none' ? null : ordering === 'key' ? (key ?? '') : '';
}

const noLane = (): null => null;
const byKey = (key: string | null): string => key ?? '';
const oneLane = (): string => '';

export function profileOf(target: Target): TargetProfile {
  switch (target.kind) {
    case 'queue':
      return {
        ordering: 'none',
        inFlight: target.concurrency,
        batchSize: 1,
        maxBatchWaitMs: 0,
        prefetch: 1,
        singleLane: false,
        handOver: target.concurrency === 1 ? 'step' : 'batch',
        attemptsBeforeExhausted: target.maxAttempts,
        whenExhausted: 'deadletter',
        laneOf: noLane,
        asyncTimeoutMs: target.asyncTimeoutMs ?? null,
      };
    case 'fifo':
      return {
        ordering: 'key',
        inFlight: target.concurrency,
        batchSize: 1,
        maxBatchWaitMs: 0,
        prefetch: target.asyncTimeoutMs === undefined ? (target.prefetch ?? DEFAULT_PREFETCH) : 1,
        singleLane: false,
        handOver: target.concurrency === 1 ? 'step' : 'batch',
        attemptsBeforeExhausted: target.maxAttempts,
        whenExhausted: target.onExhausted === 'block' ? 'park' : 'deadletter',
        laneOf: byKey,
        asyncTimeoutMs: target.asyncTimeoutMs ?? null,
      };
    case 'subscription': {
      const single = target.ordering === 'topic';
      return {
        ordering: target.ordering,
        inFlight: single ? 1 : target.concurrency,
        batchSize: single ? target.batchSize : 1,
        maxBatchWaitMs: single ? target.maxBatchWaitMs : 0,
        prefetch: (single && target.batchSize > 1) || target.asyncTimeoutMs !== undefined ? 1 : (target.prefetch ?? DEFAULT_PREFETCH),
        singleLane: single,
        handOver: single || target.concurrency === 1 ? 'step' : 'batch',
        attemptsBeforeExhausted: target.stallAfterAttempts,
        whenExhausted: 'stall',
        laneOf: single ? oneLane : byKey,
        asyncTimeoutMs: target.asyncTimeoutMs ?? null,
      };
    }
  }
}
