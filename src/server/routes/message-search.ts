import type { FastifyInstance } from 'fastify';
import { ValidationError } from '../../domain/errors.js';
import { messageStatus } from '../../domain/delivery-state.js';
import type { MessageStatus } from '../../domain/message.js';
import type { MessageFilter, MessageSummary, Page } from '../../storage/port.js';
import type { ServerContext } from '../context.js';
import { iso } from './messages.js';

const STATUSES: readonly MessageStatus[] = ['scheduled', 'queued', 'delivering', 'retrying', 'delivered', 'deadlettered', 'parked', 'stalled', 'skipped'];
const PARAMS = ['channel', 'status', 'type', 'key', 'since', 'until', 'limit', 'cursor'] as const;
type Param = (typeof PARAMS)[number];
export const SEARCH_LIMIT = { default: 50, max: 200 } as const;

/** `GET /v1/messages`: the message explorer's search, filtered and paged in the store. */
export function messageSearchRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const channels = () => new Set([...ctx.config.queues.keys(), ...ctx.config.topics.keys(), ...[...ctx.config.topics.values()].flat(), ...ctx.config.internalQueues]);

  app.get('/v1/messages', async (request) => {
    const query = readQuery(request.query);
    const filter: MessageFilter = {};
    if (query.channel !== undefined) {
      if (!channels().has(query.channel)) throw new ValidationError(`channel '${query.channel}' is not configured; give a queue, a topic or topic/subscription`, [{ path: 'channel', message: 'not configured' }]);
      filter.channel = query.channel;
    }
    if (query.status !== undefined) {
      if (!(STATUSES as readonly string[]).includes(query.status)) throw new ValidationError(`status '${query.status}' is not one of ${STATUSES.join(', ')}`, [{ path: 'status', message: 'unknown status' }]);
      filter.status = query.status as MessageStatus;
    }
    if (query.type !== undefined) filter.type = query.type;
    if (query.key !== undefined) filter.key = query.key;
    if (query.since !== undefined) filter.since = time(query.since, 'since');
    if (query.until !== undefined) filter.until = time(query.until, 'until');
    if (filter.since !== undefined && filter.until !== undefined && filter.until <= filter.since) {
      throw new ValidationError('until must be later than since', [{ path: 'until', message: 'not after since' }]);
    }
    const limit = query.limit === undefined ? SEARCH_LIMIT.default : Number(query.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > SEARCH_LIMIT.max) {
      throw new ValidationError(`limit must be a whole number from 1 to ${SEARCH_LIMIT.max}`, [{ path: 'limit', message: 'out of range' }]);
    }
    const page = await searchPages(ctx, filter, limit, query.cursor ?? null);
    return { items: page.items.map(presentSummary), next: page.next };
  });
}

/** How long one request goes on past pages that found nothing, and how many such pages at most. */
const EMPTY_PAGES = { ms: 250, count: 50 } as const;

/**
 * A store page looks at a bounded window of messages (SEARCH_EXAMINES), so a filter that matches
 * only old messages comes back empty with `next` set. Such pages are followed here, each its own
 * store call (on SQLite the event loop runs between them), until one finds something, the
 * messages run out, or the request has spent EMPTY_PAGES; the client follows `next` from there.
 */
async function searchPages(ctx: ServerContext, filter: MessageFilter, limit: number, cursor: string | null): Promise<Page<MessageSummary>> {
  const started = performance.now();
  let page = await ctx.store.listMessages(filter, { limit, cursor });
  for (let pages = 1; page.items.length === 0 && page.next !== null && pages < EMPTY_PAGES.count && performance.now() - started < EMPTY_PAGES.ms; pages++) {
    page = await ctx.store.listMessages(filter, { limit, cursor: page.next });
  }
  return page;
}

/** Each parameter at most once, each one known: a repeated or misspelt filter would silently widen the search. */
function readQuery(raw: unknown): Partial<Record<Param, string>> {
  const query: Partial<Record<Param, string>> = {};
  for (const [name, value] of Object.entries((raw ?? {}) as Record<string, unknown>)) {
    if (!(PARAMS as readonly string[]).includes(name)) throw new ValidationError(`unknown parameter '${name}'; filter with ${PARAMS.join(', ')}`, [{ path: name, message: 'unknown parameter' }]);
    if (typeof value !== 'string') throw new ValidationError(`parameter '${name}' is given more than once; give it once`, [{ path: name, message: 'repeated' }]);
    if (value.length === 0 || value.length > 200) throw new ValidationError(`parameter '${name}' must be 1 to 200 characters`, [{ path: name, message: 'empty or too long' }]);
    query[name as Param] = value;
  }
  return query;
}

/** An ISO 8601 time or epoch milliseconds. */
function time(value: string, name: string): number {
  const ms = /^\d+$/.test(value) ? Number(value) : Date.parse(value);
  if (!Number.isSafeInteger(ms)) throw new ValidationError(`${name} must be an ISO 8601 time (2026-01-31T12:00:00Z) or epoch milliseconds`, [{ path: name, message: 'not a time' }]);
  return ms;
}

function presentSummary(item: MessageSummary) {
  const m = item.message;
  return {
    id: m.id,
    channel: m.channel,
    key: m.key,
    type: m.type,
    metadata: m.metadata,
    createdAt: iso(m.createdAt),
    deliverAt: iso(m.deliverAt),
    sequence: m.sequence,
    priority: m.priority,
    expiresAt: iso(m.expiresAt),
    status: messageStatus(item.deliveries.map((d) => d.status)),
    deliveries: item.deliveries.map((d) => ({
      target: d.target,
      status: d.status,
      attempts: d.attempts,
      lane: d.lane,
      nextAttemptAt: d.status === 'retrying' || d.status === 'scheduled' || d.status === 'stalled' ? iso(d.availableAt) : null,
      lastError: d.lastError,
      updatedAt: iso(d.updatedAt),
    })),
  };
}
