import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { channelOfTarget, subscriptionTargetName } from '../../domain/channel.js';
import { NotFoundError, ValidationError } from '../../domain/errors.js';
import type { DeliveryView, LaneView, TargetStats } from '../../storage/port.js';
import type { ServerContext } from '../context.js';
import { idsInputSchema } from '../ids-input.js';
import { issuesOf } from '../message-input.js';
import { laneQuery, pageQuery, parseQuery } from '../query.js';
import { iso, presentMessage } from './messages.js';
import { channelPressure, targetLimits } from './flow.js';

const idsBody = idsInputSchema.optional();

function parse<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new ValidationError(`invalid ${what}: ${parsed.error.issues[0]!.message}`, issuesOf(parsed.error));
  return parsed.data;
}

/** Operator routes: channel stats, dead letters, parked keys, stalled subscriptions, pause/resume. */
export function operationRoutes(app: FastifyInstance, ctx: ServerContext): void {
  /** A configured queue; `fifoFor`: the route is about keys (parked or skipped), which only fifo queues have. */
  const queue = (name: string, fifoFor?: 'parked' | 'skipped') => {
    // Internal notification queues can be inspected, paused and redriven like any queue.
    const kind = ctx.config.queues.get(name) ?? (ctx.config.internalQueues.includes(name) ? 'queue' : undefined);
    if (!kind) throw new NotFoundError(`queue '${name}' is not configured (configured queues: ${[...ctx.config.queues.keys()].join(', ') || 'none'})`);
    if (fifoFor === 'parked' && kind !== 'fifo') throw new ValidationError(`'${name}' is not a fifo queue: only fifo queues park keys`);
    if (fifoFor === 'skipped' && kind !== 'fifo') {
      throw new ValidationError(`'${name}' is a plain queue: it dead-letters what fails instead of skipping it (GET /v1/queues/${name}/deadletters); skipped messages are kept by fifo queues and subscriptions`);
    }
    return name;
  };
  const subscription = (topic: string, sub: string) => {
    const name = subscriptionTargetName(topic, sub);
    if (!ctx.config.topics.get(topic)?.includes(name)) throw new NotFoundError(`subscription '${sub}' of topic '${topic}' is not configured`);
    return name;
  };
  /**
   * The ids of a request that name no message of `target` in `status` (dead-lettered, skipped):
   * an answer that only counted would hide a mistyped id. Looked up before the operation.
   */
  const notFound = async (target: string, channel: string, status: 'deadlettered' | 'skipped', ids: readonly string[] | undefined): Promise<string[] | undefined> => {
    if (!ids) return undefined;
    const missing: string[] = [];
    const unique = [...new Set(ids)];
    // A few lookups at a time: PostgreSQL answers them on several connections.
    for (let i = 0; i < unique.length; i += 16) {
      const chunk = unique.slice(i, i + 16);
      const found = await Promise.all(chunk.map(async (id) => (await ctx.store.getMessage(id, channel)).some((v) => v.deliveries.some((d) => d.target === target && d.status === status))));
      chunk.forEach((id, j) => !found[j] && missing.push(id));
    }
    return missing;
  };
  /** The lane a subscription's retry or skip acts on: `?key=` on a key-ordered one (which has no lane without a key), none on a topic-ordered one. */
  const laneOf = async (name: string, key: string | undefined): Promise<string> => {
    const ordering = ctx.config.targets.find((t) => t.name === name)?.ordering;
    if (key !== undefined && ordering !== 'key') throw new ValidationError(`'${name}' is ordered by topic: it has one lane, no keys; leave out ?key=`, [{ path: 'key', message: 'only on a subscription ordered by key' }]);
    if (key !== undefined || ordering !== 'key') return key ?? '';
    const blocked = await ctx.store.listBlockedLanes(name, { limit: 10 });
    const keys = blocked.items.map((l) => l.lane);
    throw new ValidationError(`'${name}' is ordered by key: say which key with ?key=<key>${keys.length > 0 ? ` (blocked now: ${keys.join(', ')}${blocked.next ? ', …' : ''})` : ' (no key is blocked now)'}`, [{ path: 'key', message: 'required on a subscription ordered by key' }]);
  };
  const channel = (kind: 'queues' | 'topics', name: string) => {
    if (kind === 'queues') return queue(name);
    if (!ctx.config.topics.has(name)) throw new NotFoundError(`topic '${name}' is not configured`);
    return name;
  };

  const stats = () => (ctx.stats ? ctx.stats() : ctx.store.stats());
  /** Each endpoint's breaker, by endpoint name. */
  const breakersByEndpoint = () => new Map((ctx.breakers?.() ?? []).flatMap((b) => b.endpoints.map((e) => [e, b] as const)));
  app.get('/v1/channels', async () => {
    const all = await stats();
    const breakers = breakersByEndpoint();
    const known = new Set([...ctx.config.queues.keys(), ...ctx.config.topics.keys(), ...[...ctx.config.topics.values()].flat(), ...ctx.config.internalQueues]);
    const paused = pausedTopics(all);
    return {
      items: all.filter((s) => known.has(s.name)).map((s) => presentStats(s, ctx, breakers, paused)),
      next: null,
    };
  });

  app.get('/v1/breakers', async () => ({
    items: (ctx.breakers?.() ?? []).map((b) => ({ origin: b.origin, endpoints: b.endpoints, state: b.state, openUntil: iso(b.openUntil), since: iso(b.since) })),
    next: null,
  }));

  app.get<{ Params: { name: string }; Querystring: unknown }>('/v1/queues/:name/deadletters', async (request) => {
    const page = parseQuery(pageQuery, request.query);
    const result = await ctx.store.listDeadLetters(queue(request.params.name), page);
    return { items: result.items.map(presentDelivery), next: result.next };
  });
  app.post<{ Params: { name: string } }>('/v1/queues/:name/deadletters/redrive', async (request) => {
    const name = queue(request.params.name);
    const body = parse(idsBody, request.body, 'body');
    const missing = await notFound(name, name, 'deadlettered', body?.ids);
    const redriven = await ctx.store.redrive(name, body?.ids);
    ctx.wake([name]);
    return missing ? { redriven, notFound: missing } : { redriven };
  });
  app.delete<{ Params: { name: string } }>('/v1/queues/:name/deadletters', async (request) => {
    const name = queue(request.params.name);
    const body = parse(idsBody, request.body, 'body');
    const missing = await notFound(name, name, 'deadlettered', body?.ids);
    const purged = await ctx.store.purgeDeadLetters(name, body?.ids);
    return missing ? { purged, notFound: missing } : { purged };
  });

  app.get<{ Params: { name: string }; Querystring: unknown }>('/v1/queues/:name/parked', async (request) => {
    const page = parseQuery(pageQuery, request.query);
    const result = await ctx.store.listBlockedLanes(queue(request.params.name, 'parked'), page);
    return { items: result.items.map(presentLane), next: result.next };
  });
  app.post<{ Params: { name: string; key: string } }>('/v1/queues/:name/parked/:key/retry', async (request) => {
    const name = queue(request.params.name, 'parked');
    if (!(await ctx.store.retryLane(name, request.params.key))) throw new NotFoundError(`key '${request.params.key}' has nothing waiting on '${name}'`);
    ctx.wake([name]);
    return { retried: request.params.key };
  });
  app.post<{ Params: { name: string; key: string } }>('/v1/queues/:name/parked/:key/skip', async (request) => {
    const name = queue(request.params.name, 'parked');
    const skipped = await ctx.store.skipLaneHead(name, request.params.key);
    if (!skipped) throw new NotFoundError(`key '${request.params.key}' has nothing waiting on '${name}'`);
    ctx.wake([name]);
    return { skipped: presentDelivery(skipped) };
  });

  app.get<{ Params: { topic: string; sub: string } }>('/v1/topics/:topic/subscriptions/:sub', async (request) => {
    const name = subscription(request.params.topic, request.params.sub);
    const [all, blocked] = await Promise.all([stats(), ctx.store.listBlockedLanes(name, { limit: 100 })]);
    const mine = all.find((s) => s.name === name);
    return { ...(mine ? presentStats(mine, ctx, breakersByEndpoint(), pausedTopics(all)) : { name }), blockedLanes: blocked.items.map(presentLane) };
  });
  app.post<{ Params: { topic: string; sub: string }; Querystring: unknown }>('/v1/topics/:topic/subscriptions/:sub/retry', async (request) => {
    const name = subscription(request.params.topic, request.params.sub);
    const { key } = parseQuery(laneQuery, request.query);
    const lane = await laneOf(name, key);
    if (!(await ctx.store.retryLane(name, lane))) throw new NotFoundError(`'${name}' has nothing waiting${lane ? ` for key '${lane}'` : ''}`);
    ctx.wake([name]);
    return { retried: name, key: key ?? null };
  });
  app.post<{ Params: { topic: string; sub: string }; Querystring: unknown }>('/v1/topics/:topic/subscriptions/:sub/skip', async (request) => {
    const name = subscription(request.params.topic, request.params.sub);
    const { key } = parseQuery(laneQuery, request.query);
    const skipped = await ctx.store.skipLaneHead(name, await laneOf(name, key));
    if (!skipped) throw new NotFoundError(`'${name}' has nothing waiting${key ? ` for key '${key}'` : ''}`);
    ctx.wake([name]);
    return { skipped: presentDelivery(skipped) };
  });

  // Skipped messages are kept with their history and can be put back in their lane.
  for (const [prefix, resolve] of [
    ['/v1/queues/:name', (p: Record<string, string>) => queue(p.name!, 'skipped')],
    ['/v1/topics/:topic/subscriptions/:sub', (p: Record<string, string>) => subscription(p.topic!, p.sub!)],
  ] as const) {
    app.get<{ Params: Record<string, string>; Querystring: unknown }>(`${prefix}/skipped`, async (request) => {
      const page = parseQuery(pageQuery, request.query);
      const result = await ctx.store.listSkipped(resolve(request.params), page);
      return { items: result.items.map(presentDelivery), next: result.next };
    });
    app.post<{ Params: Record<string, string> }>(`${prefix}/skipped/redeliver`, async (request) => {
      const name = resolve(request.params);
      const body = parse(idsBody, request.body, 'body');
      const missing = await notFound(name, channelOfTarget(name), 'skipped', body?.ids);
      const redelivered = await ctx.store.redeliverSkipped(name, body?.ids);
      ctx.wake([name]);
      return missing ? { redelivered, notFound: missing } : { redelivered };
    });
  }

  for (const action of ['pause', 'resume'] as const) {
    for (const kind of ['queues', 'topics'] as const) {
      app.post<{ Params: { name: string } }>(`/v1/${kind}/:name/${action}`, async (request) => {
        const name = channel(kind, request.params.name);
        await ctx.store.setPaused(name, action === 'pause');
        const targets = kind === 'queues' ? [name] : ctx.config.topics.get(name) ?? [];
        if (action === 'resume') ctx.wake(targets);
        return { name, paused: action === 'pause' };
      });
    }
    app.post<{ Params: { topic: string; sub: string } }>(`/v1/topics/:topic/subscriptions/:sub/${action}`, async (request) => {
      const name = subscription(request.params.topic, request.params.sub);
      await ctx.store.setPaused(name, action === 'pause');
      if (action === 'resume') ctx.wake([name]);
      return { name, paused: action === 'pause' };
    });
  }
}

/** The paused topics among the stats, read once per answer (not once per subscription shown). */
const pausedTopics = (all: readonly TargetStats[]): ReadonlySet<string> => new Set(all.filter((t) => t.kind === 'topic' && t.paused).map((t) => t.name));

function presentStats(s: TargetStats, ctx: ServerContext, breakers: Map<string, { state: string }>, paused: ReadonlySet<string>) {
  const target = ctx.config.targets.find((t) => t.name === s.name);
  // A paused topic holds its subscriptions too: they show as paused, and say why.
  const topicPaused = s.kind === 'subscription' ? paused.has(channelOfTarget(s.name)) : undefined;
  return {
    name: s.name,
    kind: s.kind,
    paused: s.paused || topicPaused === true,
    /** Subscriptions: paused because their topic is (resume the topic); the subscription's own flag is `paused` without it. */
    topicPaused,
    depth: s.depth,
    inFlight: s.inFlight,
    oldestAgeMs: s.oldestAgeMs,
    delivered: s.delivered,
    deadLettered: s.deadLettered,
    skipped: s.skipped,
    parkedKeys: s.parkedLanes,
    stalledLanes: s.stalledLanes,
    stalled: s.kind === 'subscription' ? s.stalledLanes > 0 : undefined,
    /** Subscriptions: events published but not yet delivered, and how old the oldest is. */
    lag: s.kind === 'subscription' ? s.depth : undefined,
    lastSequence: s.lastSequence,
    /** Topics: the oldest sequence still kept, the earliest point a subscription can seek to. */
    keptFrom: s.keptFrom,
    /** Subscriptions: the stored filter every instance applies when publishing, null for none. */
    filter: s.kind === 'subscription' ? s.filter ?? null : undefined,
    endpoint: target?.endpoint,
    breaker: target ? breakers.get(target.endpoint)?.state ?? 'closed' : undefined,
    /** This instance's deliveries over the last minute (per second) and enqueue-to-delivery latency. */
    rates: ctx.rates?.recent(s.kind === 'topic' ? ctx.config.topics.get(s.name) ?? [] : [s.name], ctx.now()),
    limits: target ? targetLimits(ctx, target) : undefined,
    backpressure: channelPressure(ctx, s.name),
  };
}

export function presentDelivery(d: DeliveryView) {
  return {
    ...presentMessage(d.message),
    target: d.target,
    status: d.status,
    attempts: d.attempts,
    lastError: d.lastError,
    updatedAt: iso(d.updatedAt),
    history: d.history.map((a) => ({ ...a, startedAt: iso(a.startedAt) })),
  };
}

function presentLane(l: LaneView) {
  return { key: l.lane, state: l.state, reason: l.reason, since: iso(l.since), pending: l.pending, head: l.head ? presentDelivery(l.head) : null };
}
