import type { FastifyInstance } from 'fastify';
import { NotFoundError, ValidationError } from '../../domain/errors.js';
import { mayProduce, principalOf } from '../auth.js';
import { completionInputSchema, toCompletionOutcome } from '../completion-input.js';
import type { ServerContext } from '../context.js';
import { issuesOf } from '../message-input.js';

const EXPECTED = `{ "outcome": "delivered" }, { "outcome": "retry", "retryAfter": 30 } or { "outcome": "permanent", "reason": "…" }`;

/**
 * Asynchronous acknowledgement: a receiver (or whoever finished the work) reports the outcome of
 * an attempt it answered 202. Producers of the delivery's channel and operators may complete.
 */
export function completionRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.post<{ Params: { token: string } }>('/v1/deliveries/:token/complete', async (request) => {
    if (!ctx.complete) throw new NotFoundError('asynchronous acknowledgement is not available on this server');
    if (request.params.token.length > 64) throw new NotFoundError('no delivery attempt has this completion token (tokens are at most 64 characters)');
    const body: unknown = request.body;
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw new ValidationError(`a completion needs a JSON object body: ${EXPECTED}`, [{ path: '(body)', message: EXPECTED }]);
    }
    const parsed = completionInputSchema.safeParse(body);
    if (!parsed.success) throw new ValidationError(`invalid completion: ${parsed.error.issues[0]!.message}`, issuesOf(parsed.error));
    const key = principalOf(request);
    const result = await ctx.complete(request.params.token, toCompletionOutcome(parsed.data), (channel) => key === undefined || key.role === 'operator' || mayProduce(key, channel));
    return { status: 'completed', ...result };
  });
}
