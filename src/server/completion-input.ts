import { z } from 'zod';
import type { CompletionOutcome } from '../domain/completion.js';

/**
 * The body of `POST /v1/deliveries/{token}/complete`: the outcome of a deferred attempt.
 * `retryAfter` (seconds, like the Retry-After header) only with `retry`; `reason` is required
 * with `permanent`; `appliedThrough` only for an ordered batch (the last event applied).
 */
export const completionInputSchema = z
  .object({
    outcome: z.enum(['delivered', 'retry', 'permanent']),
    reason: z.string().min(1).max(1_000).optional(),
    retryAfter: z.number().int().min(0).max(86_400).optional(),
    appliedThrough: z.string().min(1).max(200).optional(),
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
