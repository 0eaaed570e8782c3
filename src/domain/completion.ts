import type { Classification } from './outcome.js';

/**
 * Asynchronous acknowledgement (SPEC: "Asynchronous acknowledgement"). On a target with
 * `asyncTimeout`, each call carries an `Offload-Completion-Token` minted by Offload (the delivery
 * and its attempt's epoch, signed with a key kept in the store). An endpoint that answers 202
 * defers the attempt: it stays in flight, holding its lane, until someone with access to the
 * channel posts its outcome to `POST /v1/deliveries/{token}/complete`, or until the timeout, which
 * fails the attempt with `ASYNC_TIMEOUT_REASON` and retries it by the target's policy.
 */

/** The error a timed-out deferral is recorded with. */
export const ASYNC_TIMEOUT_REASON = 'asynchronous completion timed out';

/** The outcome a receiver reports for a deferred attempt. */
export type CompletionOutcome =
  | { outcome: 'delivered'; appliedThrough?: string }
  | { outcome: 'retry'; reason?: string; retryAfterMs?: number; appliedThrough?: string }
  | { outcome: 'permanent'; reason: string; appliedThrough?: string };

/** The classification a completion stands for, as if the call had answered with it. */
export function classifyCompletion(completion: CompletionOutcome): Classification {
  switch (completion.outcome) {
    case 'delivered':
      return { kind: 'delivered' };
    case 'retry': {
      const reason = `completed as failed: ${completion.reason ?? 'the receiver asked for a retry'}`;
      return completion.retryAfterMs === undefined ? { kind: 'retryable', reason } : { kind: 'retryable', reason, retryAfterMs: completion.retryAfterMs };
    }
    case 'permanent':
      return { kind: 'permanent', reason: `completed as permanently failed: ${completion.reason}` };
  }
}
