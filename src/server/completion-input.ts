import { z } from 'zod';
import type { CompletionOutcome } from '../domain/completion.js';

/**
 * The body of `POST /v1/deliveries/{token}/complete`: the outcome of a deferred attempt.
 * `retryAfter` (seconds, like the Retry-After header) only with `retry`; `reason` is required
 * with `permanent`; `appliedThrough` only for an ordered batch (the last event applied).
 */
const REASON = 'reason must be text of 1 to 1000 characters';
const RETRY_AFTER = 'retryAfter must be whole seconds from 0 to 86400 (a day)';
const APPLIED_THROUGH = 'appliedThrough must be the id of a message of this call (1 to 200 characters)';

export const completionInputSchema = z
  .object({
    outcome: z.enum(['delivered', 'retry', 'permanent'], { error: "outcome must be 'delivered', 'retry' or 'permanent'" }),
    reason: z.string({ error: REASON }).min(1, REASON).max(1_000, REASON).refine((r) => !r.includes('\u0000'), 'reason cannot contain NUL characters').optional(),
    retryAfter: z.number({ error: RETRY_AFTER }).int(RETRY_AFTER).min(0, RETRY_AFTER).max(86_400, RETRY_AFTER).optional(),
    appliedThrough: z.string({ error: APPLIED_THROUGH }).min(1, APPLIED_THROUGH).max(200, APPLIED_THROUGH).optional(),
  })
  .strict()
  .superRefine((input, ctx) => {
    if (input.outcome === 'permanent' && input.reason === undefined) ctx.addIssue({ code: 'custom', path: ['reason'], message: "a 'permanent' outcome needs a reason (why the message can never be applied)" });
    if (input.outcome !== 'retry' && input.retryAfter !== undefined) ctx.addIssue({ code: 'custom', path: ['retryAfter'], message: "retryAfter goes with outcome 'retry' only" });
  });

export type CompletionInput = z.infer<typeof completionInputSchema>;

export function toCompletionOutcome(input: CompletionInput): CompletionOutcome {
  const through = input.appliedThrough === undefined ? {} : { appliedThrough: input.appliedThrough };
  switch (input.outcome) {
    case 'delivered':
      return { outcome: 'delivered', ...through };
    case 'retry':
      return { outcome: 'retry', ...(input.reason === undefined ? {} : { reason: input.reason }), ...(input.retryAfter === undefined ? {} : { retryAfterMs: input.retryAfter * 1_000 }), ...through };
    case 'permanent':
      return { outcome: 'permanent', reason: input.reason!, ...through };
  }
}
