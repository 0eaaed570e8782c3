import { z } from 'zod';
import { ValidationError } from '../domain/errors.js';

/**
 * Query strings: each route names the parameters it takes; a parameter given twice, or one the
 * route does not take, is refused with a 400 rather than guessed at (an array where a string was
 * expected would otherwise reach the store).
 */

export const pageQuery = z
  .object({
    limit: z
      .string()
      .regex(/^\d{1,4}$/, 'limit is a whole number from 1 to 1000')
      .transform(Number)
      .pipe(z.number().min(1, 'limit is at least 1').max(1000, 'limit is at most 1000'))
      .default(100),
    cursor: z.string().max(1_000, 'a cursor is at most 1000 characters').optional(),
  })
  .strict();

export const channelQuery = z.object({ channel: z.string().min(1, 'channel is a channel name').max(200).optional() }).strict();
export const laneQuery = z.object({ key: z.string().min(1, 'key is the lane key').max(200).optional() }).strict();

function repeated(query: unknown): string | undefined {
  if (!query || typeof query !== 'object') return undefined;
  for (const [name, value] of Object.entries(query)) if (Array.isArray(value)) return name;
  return undefined;
}

export function parseQuery<T>(schema: z.ZodType<T>, query: unknown): T {
  const twice = repeated(query);
  if (twice !== undefined) throw new ValidationError(`query parameter '${twice}' is given more than once; give it once`, [{ path: twice, message: 'repeated' }]);
  const parsed = schema.safeParse(query ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const message = issue.code === 'unrecognized_keys' ? `this route does not take the query parameter${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `'${k}'`).join(', ')}` : issue.message;
    throw new ValidationError(`invalid query: ${message}`, parsed.error.issues.map((i) => ({ path: i.path.map(String).join('.') || '(query)', message: i.code === 'unrecognized_keys' ? 'not taken by this route' : i.message })));
  }
  return parsed.data;
}

/**
 * The query parameters each route takes. A route listed here refuses any other parameter; a
 * route not listed is only protected against repeated parameters (its own schema does the rest).
 */
export const TAKES: Record<string, readonly string[]> = {
  '/metrics': [],
  '/v1/channels': [],
  '/v1/breakers': [],
  '/v1/events': ['types', 'token'],
  '/v1/events/token': [],
  '/v1/messages': ['channel', 'status', 'type', 'key', 'since', 'until', 'limit', 'cursor'],
  '/v1/rates': ['channel', 'window'],
  '/v1/messages/:id': ['channel'],
  '/v1/queues/:name/messages': [],
  '/v1/queues/:name/messages/batch': [],
  '/v1/topics/:name/messages': [],
  '/v1/topics/:name/messages/batch': [],
  '/v1/queues/:name/deadletters': ['limit', 'cursor'],
  '/v1/queues/:name/deadletters/redrive': [],
  '/v1/queues/:name/parked': ['limit', 'cursor'],
  '/v1/queues/:name/parked/:key/retry': [],
  '/v1/queues/:name/parked/:key/skip': [],
  '/v1/queues/:name/skipped': ['limit', 'cursor'],
  '/v1/queues/:name/skipped/redeliver': [],
  '/v1/queues/:name/pause': [],
  '/v1/queues/:name/resume': [],
  '/v1/topics/:name/pause': [],
  '/v1/topics/:name/resume': [],
  '/v1/topics/:topic/subscriptions/:sub': [],
  '/v1/topics/:topic/subscriptions/:sub/retry': ['key'],
  '/v1/topics/:topic/subscriptions/:sub/skip': ['key'],
  '/v1/topics/:topic/subscriptions/:sub/skipped': ['limit', 'cursor'],
  '/v1/topics/:topic/subscriptions/:sub/skipped/redeliver': [],
  '/v1/topics/:topic/subscriptions/:sub/pause': [],
  '/v1/topics/:topic/subscriptions/:sub/resume': [],
  // A seek moves every lane: a `?key=` would read as one lane's seek, and is refused rather than ignored.
  '/v1/topics/:topic/subscriptions/:sub/seek': [],
  '/v1/deliveries/:token/complete': [],
  '/v1/endpoints': [],
  '/v1/schedules': [],
  '/v1/schedules/:name': [],
  '/v1/schedules/:name/pause': [],
  '/v1/schedules/:name/resume': [],
  '/v1/drain': [],
};

/**
 * Refuses, before any route runs, a parameter given twice and (on the API's own routes) one the
 * route does not take. Values are then checked by the route's schema.
 */
export function checkQueryShape(route: string | undefined, query: unknown): void {
  const twice = repeated(query);
  if (twice !== undefined) throw new ValidationError(`query parameter '${twice}' is given more than once; give it once`, [{ path: twice, message: 'repeated' }]);
  const takes = route === undefined ? undefined : TAKES[route];
  if (!takes || !query || typeof query !== 'object') return;
  const unknown = Object.keys(query).filter((k) => !takes.includes(k));
  if (unknown.length > 0) {
    const takesText = takes.length > 0 ? `it takes ${takes.map((k) => `'${k}'`).join(', ')}` : 'it takes none';
    throw new ValidationError(`this route does not take the query parameter${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `'${k}'`).join(', ')}; ${takesText}`, unknown.map((k) => ({ path: k, message: 'not taken by this route' })));
  }
}

/**
 * Path and query parameters never hold a NUL character: no name, id, key or cursor can contain
 * one, and PostgreSQL text cannot store it. Refused alike on every store, before any lookup.
 */
export function refuseNul(params: unknown, query: unknown): void {
  for (const [where, values] of [['path', params], ['query', query]] as const) {
    if (!values || typeof values !== 'object') continue;
    for (const [name, value] of Object.entries(values)) {
      if (typeof value === 'string' && value.includes('\u0000')) {
        throw new ValidationError(`${where} parameter '${name}' holds a NUL character (%00); names, ids, keys and cursors never do`, [{ path: name, message: 'holds a NUL character' }]);
      }
    }
  }
}
