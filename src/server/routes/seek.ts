import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { subscriptionTargetName } from '../../domain/channel.js';
import { NotFoundError, ValidationError } from '../../domain/errors.js';
import type { SeekPoint } from '../../domain/seek.js';
import type { ServerContext } from '../context.js';
import { issuesOf } from '../message-input.js';

const EXPECTED = 'give exactly one of sequence (an event sequence, 1 or more) or time (an ISO 8601 date-time with a time zone, e.g. 2026-01-31T09:00:00Z)';

const SEQUENCE = `sequence must be a whole number from 1 to ${Number.MAX_SAFE_INTEGER} (an event's sequence)`;

const seekBody = z
  .object({
    sequence: z.number({ error: SEQUENCE }).int(SEQUENCE).min(1, SEQUENCE).optional(),
    time: z.iso.datetime({ offset: true, error: 'time must be an ISO 8601 date-time with a time zone, e.g. 2026-01-31T09:00:00Z' }).optional(),
  })
  .strict();

/** The body of a seek: exactly one of `sequence` or `time`. */
export function parseSeekPoint(body: unknown): SeekPoint {
  if (body === undefined || body === null || typeof body !== 'object' || Array.isArray(body)) throw new ValidationError(`a seek needs a JSON object body: ${EXPECTED}`);
  const parsed = seekBody.safeParse(body);
  if (!parsed.success) throw new ValidationError(`invalid seek: ${parsed.error.issues[0]!.message}`, issuesOf(parsed.error));
  const { sequence, time } = parsed.data;
  if ((sequence === undefined) === (time === undefined)) throw new ValidationError(`invalid seek: ${EXPECTED}`, [{ path: sequence === undefined ? '(body)' : 'time', message: EXPECTED }]);
  return sequence !== undefined ? { sequence } : { time: Date.parse(time!) };
}

/** Seek: moves a subscription backward (replay) or forward (skip ahead), for every instance. */
export function seekRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.post<{ Params: { topic: string; sub: string } }>('/v1/topics/:topic/subscriptions/:sub/seek', async (request) => {
    const { topic, sub } = request.params;
    const name = subscriptionTargetName(topic, sub);
    if (!ctx.config.topics.get(topic)?.includes(name)) throw new NotFoundError(`subscription '${sub}' of topic '${topic}' is not configured`);
    const point = parseSeekPoint(request.body);
    const result = await ctx.store.seek(name, point);
    ctx.wake([name]);
    ctx.events.publish({ type: 'seek', at: ctx.now(), target: name, ...result });
    return { subscription: name, ...result };
  });
}
