import type { FastifyInstance } from 'fastify';
import { NotFoundError, ValidationError } from '../../domain/errors.js';
import { WINDOWS, type RatesWindow } from '../../telemetry/rates.js';
import type { ServerContext } from '../context.js';

/**
 * `GET /v1/rates?channel=&window=15m|1h`: the chart series of one queue, topic (its
 * subscriptions together) or subscription, or of everything when `channel` is left out.
 */
export function rateRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.get('/v1/rates', async (request) => {
    const query = (request.query ?? {}) as Record<string, unknown>;
    for (const [name, value] of Object.entries(query)) {
      if (name !== 'channel' && name !== 'window') throw new ValidationError(`unknown parameter '${name}'; use channel and window`, [{ path: name, message: 'unknown parameter' }]);
      if (typeof value !== 'string') throw new ValidationError(`parameter '${name}' is given more than once; give it once`, [{ path: name, message: 'repeated' }]);
    }
    const window = (query.window ?? '15m') as string;
    if (!(window in WINDOWS)) throw new ValidationError(`window must be one of ${Object.keys(WINDOWS).join(', ')}`, [{ path: 'window', message: 'unknown window' }]);
    if (!ctx.rates) throw new NotFoundError('rates are not kept by this server');
    const channel = query.channel as string | undefined;
    return { channel: channel ?? null, ...ctx.rates.series(channel === undefined ? null : targetsOf(ctx, channel), window as RatesWindow, ctx.now()) };
  });
}

function targetsOf(ctx: ServerContext, channel: string): string[] {
  const subscriptions = ctx.config.topics.get(channel);
  if (subscriptions) return [...subscriptions];
  const known = ctx.config.queues.has(channel) || ctx.config.internalQueues.includes(channel) || [...ctx.config.topics.values()].some((subs) => subs.includes(channel));
  if (!known) throw new ValidationError(`channel '${channel}' is not configured; give a queue, a topic or topic/subscription`, [{ path: 'channel', message: 'not configured' }]);
  return [channel];
}
