import type { FastifyInstance } from 'fastify';
import type { ServerContext } from '../context.js';
import { toDrainRequest } from '../drain-input.js';
import { sendProblem } from '../problem.js';
import { iso } from './messages.js';

/**
 * POST /v1/drain (test setups, `testing.drain`): delivers everything due on the named channels
 * now and answers with what is left and why. A drain that runs out of time or rounds still
 * answers 200, with `complete: false` and `stoppedBy`, so a test can assert on what is left.
 */
export function drainRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.post('/v1/drain', async (request, reply) => {
    if (!ctx.drain) {
      return sendProblem(reply, 403, 'drain_disabled', 'drain is not enabled on this server: it is meant for test setups; enable it with `testing: { drain: true }` in the configuration');
    }
    const result = await ctx.drain(toDrainRequest(request.body, ctx.config));
    // The next channel listing shows what the drain delivered.
    ctx.changed?.();
    return {
      ...result,
      undelivered: result.undelivered.map((item) => ({ ...item, availableAt: iso(item.availableAt) })),
    };
  });
}
