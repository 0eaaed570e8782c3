/**
 * Channel model: what is configured for each queue, fifo queue and topic subscription, with the
 * presets that seed the defaults. Every policy documents its default here.
 */

import type { SubscriptionFilter } from './subscription-filter.js';

export type TargetKind = 'queue' | 'fifo' | 'subscription';
export type Ordering = 'none' | 'key' | 'topic';
export type OnExhausted = 'block' | 'deadletter';

/** Delivery policy shared by every kind of target. */
export interface DeliveryPolicy {
  /** Endpoint URL the deliveries are POSTed to (endpoint base + path). */
  url: string;
  /** Name of the endpoint (its origin is the circuit breaker's unit). */
  endpoint: string;
  /** Per-attempt timeout. Default 30s. */
  timeoutMs: number;
  /** Lease taken before each call and renewed while it is in flight. Default 30s. */
  lockDurationMs: number;
  /** Deliveries (queue), keys (fifo, subscription with ordering key) or 1 (ordering topic) in flight. */
  concurrency: number;
  /** Attempts before a message is dead-lettered or parked. Default 10. Subscriptions never give up. */
  maxAttempts: number;
  /** Smallest retry delay. Default 1s. */
  minBackoffMs: number;
  /** Largest retry delay, and the cap on Retry-After. Default 5m. */
  maxBackoffMs: number;
  /** Standard Webhooks signing secrets (several during rotation); empty for unsigned. */
  secrets: readonly string[];
  /** Extra headers sent with every delivery. */
  headers: Readonly<Record<string, string>>;
  /**
   * Asynchronous acknowledgement: a 202 answer defers the attempt until the receiver completes it
   * (`POST /v1/deliveries/{token}/complete`) or this long has passed (then it failed and is
   * retried). Absent (the default): off, a 202 is a success like any 2xx and no token is sent.
   */
  asyncTimeoutMs?: number;
}

export interface QueueTarget extends DeliveryPolicy {
  kind: 'queue';
  name: string;
  ordering: 'none';
  /**
   * Time to live of its messages, from when each is due (sent, or its `deliverAt`): a message not
   * delivered by then is dead-lettered with reason `expired`. A message's own `expiresAt` or `ttl`
   * wins. Default none (never expires).
   */
  ttlMs?: number | null;
}

export interface FifoTarget extends DeliveryPolicy {
  kind: 'fifo';
  name: string;
  ordering: 'key';
  /** What happens when attempts run out or a permanent failure comes back. Default `block`. */
  onExhausted: OnExhausted;
  /** A key's messages one claim takes ahead, sent one call at a time in order. Default 10 (1 with asyncTimeout). */
  prefetch?: number;
}

export interface SubscriptionTarget extends DeliveryPolicy {
  kind: 'subscription';
  /** `topic/subscription`. */
  name: string;
  topic: string;
  subscription: string;
  /** `topic`: one delivery (or batch) in flight for the whole subscription. `key`: per partition key. Default `topic`. */
  ordering: 'key' | 'topic';
  /** Events per call for ordering `topic`; 1 sends single events. Default 1. */
  batchSize: number;
  /** How long a partial batch may wait to fill. Default 0 (send what is there). */
  maxBatchWaitMs: number;
  /**
   * Unbatched: a lane's events one claim takes ahead, sent one call at a time in order. Default 10
   * (1 with batches or asyncTimeout, which it does not apply to).
   */
  prefetch?: number;
  /** Failed attempts after which the lane is reported stalled. Default 10. */
  stallAfterAttempts: number;
  /** Where a new subscription starts: only new events, or every retained event. Default `latest`. */
  startFrom: 'latest' | 'beginning';
  /** Which events of the topic it receives; null: all of them. Default null. */
  filter?: SubscriptionFilter | null;
}

export type Target = QueueTarget | FifoTarget | SubscriptionTarget;

/**
 * Messages of one ordered lane a claim takes ahead by default, sent one call at a time: the next
 * call starts when the one before is answered, without a store round trip in between.
 */
export const DEFAULT_PREFETCH = 10;

export function subscriptionTargetName(topic: string, subscription: string): string {
  return `${topic}/${subscription}`;
}

/** The channel a target draws its messages from: a queue's is itself, a subscription's (`topic/subscription`) its topic. */
export function channelOfTarget(target: string): string {
  const slash = target.indexOf('/');
  return slash < 0 ? target : target.slice(0, slash);
}

export type PresetName = 'ancillary' | 'domain-events' | 'aggregate-fifo';

/** Seed defaults per preset; explicit settings in the configuration win. */
export const PRESETS = {
  ancillary: {
    kind: 'queue',
    concurrency: 32,
    maxAttempts: 10,
    minBackoffMs: 1_000,
    maxBackoffMs: 300_000,
    timeoutMs: 30_000,
    lockDurationMs: 30_000,
  },
  'domain-events': {
    ordering: 'topic',
    concurrency: 16,
    batchSize: 1,
    maxBatchWaitMs: 0,
    stallAfterAttempts: 10,
    minBackoffMs: 1_000,
    maxBackoffMs: 60_000,
    timeoutMs: 30_000,
    lockDurationMs: 30_000,
  },
  'aggregate-fifo': {
    kind: 'fifo',
    concurrency: 16,
    maxAttempts: 10,
    onExhausted: 'block',
    minBackoffMs: 1_000,
    maxBackoffMs: 300_000,
    timeoutMs: 30_000,
    lockDurationMs: 30_000,
  },
} as const;
