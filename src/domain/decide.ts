import type { Target } from './channel.js';
import type { Random } from './clock.js';
import { EXPIRED_REASON } from './message.js';
import type { Classification } from './outcome.js';
import { profileOf } from './profile.js';
import { backoffDelay } from './retry-policy.js';

/** What the store is asked to do with a delivery after an attempt. */
export type Decision =
  | { kind: 'delivered' }
  | { kind: 'retry'; availableAt: number; reason: string }
  | { kind: 'deadletter'; reason: string }
  /** fifo `block`: the key stops at this message until an operator acts. */
  | { kind: 'park'; reason: string }
  /** subscription: the lane is reported stalled and keeps retrying at the capped backoff. */
  | { kind: 'stall'; availableAt: number; reason: string };

/**
 * Decides the next step after attempt number `attempt` (1-based) of a delivery. The target's
 * profile says what "giving up" means: queues dead-letter, fifo queues park (or dead-letter when
 * allowed), subscriptions never give up but stall, because skipping an event would break order.
 * A message that expires (`expiresAt`, plain queues) before its next attempt is dead-lettered
 * with reason `expired` instead: no retry is made after its expiry.
 */
export function decide(target: Target, attempt: number, outcome: Classification, now: number, random: Random, expiresAt: number | null = null): Decision {
  if (outcome.kind === 'delivered') return { kind: 'delivered' };
  const reason = outcome.reason;
  const profile = profileOf(target);
  const exhausted = outcome.kind === 'permanent' || attempt >= profile.attemptsBeforeExhausted;
  if (!exhausted) {
    const availableAt = now + retryDelay(target, attempt, outcome, random);
    if (expiresAt !== null && availableAt >= expiresAt) return { kind: 'deadletter', reason: EXPIRED_REASON };
    return { kind: 'retry', availableAt, reason };
  }
  // A stalled lane keeps retrying at the capped backoff; its reason is the failure itself.
  if (profile.whenExhausted === 'stall') return { kind: 'stall', availableAt: now + target.maxBackoffMs, reason };
  const why = outcome.kind === 'permanent' ? `permanent failure: ${reason}` : `attempts exhausted (${attempt}): ${reason}`;
  return profile.whenExhausted === 'park' ? { kind: 'park', reason: why } : { kind: 'deadletter', reason: why };
}

function retryDelay(target: Target, attempt: number, outcome: Classification, random: Random): number {
  if (outcome.kind === 'retryable' && outcome.retryAfterMs !== undefined) {
    return Math.min(Math.max(outcome.retryAfterMs, 0), target.maxBackoffMs);
  }
  return backoffDelay(attempt, target, random);
}
