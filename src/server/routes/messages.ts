import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { messageStatus } from '../../domain/delivery-state.js';
import { IDENTIFIER_RULE, type NewMessage } from '../../domain/message.js';
import { NotFoundError, ValidationError } from '../../domain/errors.js';
import { jsonDepthExceeds } from '../../domain/json-guard.js';
import { rawBatchDataOf, rawDataOf } from '../../domain/raw-json.js';
import { RawJson } from '../raw-reply.js';
import type { SendResult } from '../../storage/port.js';
import type { ServerContext } from '../context.js';
import { sendProblem } from '../problem.js';
import type { Metrics } from '../metrics.js';
import { batchInputSchema, issuesOf, toNewMessage, type InputContext } from '../message-input.js';
import { channelQuery, parseQuery } from '../query.js';
import { rawBodies } from '../raw-body.js';

type Params = { name: string };

/** Producer routes: send to queues and publish to topics, single and batch. */
export function messageRoutes(app: FastifyInstance, ctx: ServerContext, metrics?: Metrics): void {
  const channelOf = (kind: 'queues' | 'topics', name: string) => {
    if (kind === 'queues') {
      const queueKind = ctx.config.queues.get(name);
      if (!queueKind) throw new NotFoundError(notFoundText('queue', name, [...ctx.config.queues.keys()], ctx.config.topics.has(name) ? `'${name}' is a topic: POST /v1/topics/${name}/messages` : undefined));
      return { kind: queueKind, configuredHeaders: configuredHeaders([name]) };
    }
    const subs = ctx.config.topics.get(name);
    if (!subs) throw new NotFoundError(notFoundText('topic', name, [...ctx.config.topics.keys()], ctx.config.queues.has(name) ? `'${name}' is a queue: POST /v1/queues/${name}/messages` : undefined));
    return { kind: 'topic' as const, configuredHeaders: configuredHeaders(subs) };
  };

  /** Header names the endpoints of these targets set (lower case), computed once per channel. */
  const headerNames = new Map<string, ReadonlySet<string>>();
  const configuredHeaders = (targets: readonly string[]): ReadonlySet<string> => {
    const cacheKey = targets.join('\u0000');
    let names = headerNames.get(cacheKey);
    if (!names) {
      names = new Set(ctx.config.targets.filter((t) => targets.includes(t.name)).flatMap((t) => Object.keys(t.headers).map((h) => h.toLowerCase())));
      headerNames.set(cacheKey, names);
    }
    return names;
  };
  const inputContext = (channel: ReturnType<typeof channelOf>, name: string, now: number, idempotencyKey?: string): InputContext => ({
    kind: channel.kind,
    channel: name,
    maxPayload: ctx.config.delivery.maxPayload,
    maxDepth: ctx.config.delivery.maxDepth,
    configuredHeaders: channel.configuredHeaders,
    now,
    ...(idempotencyKey !== undefined ? { idempotencyKey } : {}),
  });

  /**
   * New messages: live listeners hear of them. The store has already woken the dispatcher for
   * them, at commit (Store.onWake).
   */
  const accepted = (channel: string, messages: ReadonlyArray<{ id: string; type: string; key: string | null }>) => {
    const ids = messages.map((m) => m.id);
    ctx.backpressure?.accepted(channel, messages);
    metrics?.sent(channel, ids.length);
    if (ctx.events.listeners() > 0) ctx.events.publish({ type: 'accepted', at: ctx.now(), channel, ids });
  };

  // An empty header is a producer's mistake (a variable that was not set), not the absence of one:
  // taken as absent it would store the message under a new id, and a retry would store it again.
  const idempotencyKey = (header: string | string[] | undefined) => {
    if (header === '') throw new ValidationError(`the Idempotency-Key header is empty: give the message's id (${IDENTIFIER_RULE}), or leave the header out`, [{ path: 'Idempotency-Key', message: 'empty' }]);
    return typeof header === 'string' ? header : undefined;
  };

  /** Backpressure: a channel at or over its limit refuses the whole send, with Retry-After. */
  // Answers true once the refusal is sent (a boolean: a Fastify reply is thenable, so awaiting one would not return it).
  const throttled = async (reply: FastifyReply, channel: string): Promise<boolean> => {
    const throttle = await ctx.backpressure?.check(channel);
    if (!throttle) return false;
    reply.header('retry-after', String(throttle.retryAfterSeconds));
    sendProblem(reply, 429, 'throttled', `${throttle.reason}; nothing was stored: send again after ${throttle.retryAfterSeconds}s (Retry-After)`);
    return true;
  };

  // A server span per send when tracing is on; ended with the final status once the answer is sent.
  const spans = new WeakMap<FastifyRequest, { traceparent: string; end(statusCode: number): void }>();
  if (ctx.tracing) app.addHook('onResponse', async (request, reply) => spans.get(request)?.end(reply.statusCode));
  /** Messages that carry no traceparent join the send's trace, so their delivery attempts do too. */
  const traced = (request: FastifyRequest, channel: string, messages: NewMessage[]): NewMessage[] => {
    if (!ctx.tracing) return messages;
    const header = request.headers.traceparent;
    const span = ctx.tracing.startSend({ channel, route: request.routeOptions.url ?? request.url, count: messages.length, traceparent: typeof header === 'string' ? header : undefined });
    spans.set(request, span);
    return messages.map((m) => (m.metadata.traceparent ? m : { ...m, metadata: { ...m.metadata, traceparent: span.traceparent } }));
  };

  const answer = (reply: FastifyReply, result: SendResult) => reply.code(result.duplicate ? 200 : 202).send(result.duplicate ? result : withoutDuplicate(result));

  /**
   * A channel over its limit refuses the send before its body is read: a flood of large sends to
   * a full channel costs the other channels nothing (no parsing on the shared event loop). The
   * handler checks again after parsing (the backlog may have grown meanwhile).
   */
  const refuseBeforeParsing = (kind: 'queues' | 'topics') => async (request: FastifyRequest<{ Params: Params }>, reply: FastifyReply, payload: unknown) => {
    const known = kind === 'queues' ? ctx.config.queues.has(request.params.name) : ctx.config.topics.has(request.params.name);
    if (known && (await throttled(reply, request.params.name))) return reply;
    return payload;
  };

  for (const kind of ['queues', 'topics'] as const) {
    app.post<{ Params: Params }>(`/v1/${kind}/:name/messages`, { preParsing: refuseBeforeParsing(kind) }, async (request, reply) => {
      const channel = channelOf(kind, request.params.name);
      const raw = rawBodies.get(request);
      const message = toNewMessage(request.body, inputContext(channel, request.params.name, ctx.now(), idempotencyKey(request.headers['idempotency-key'])), '', raw === undefined ? undefined : rawDataOf(raw));
      if (await throttled(reply, request.params.name)) return reply;
      const [result] = await ctx.store.send(request.params.name, traced(request, request.params.name, [message]));
      if (!result!.duplicate) accepted(request.params.name, [message]);
      return answer(reply, result!);
    });

    app.post<{ Params: Params }>(`/v1/${kind}/:name/messages/batch`, { preParsing: refuseBeforeParsing(kind) }, async (request, reply) => {
      const channel = channelOf(kind, request.params.name);
      // Taking it for one message of the batch, or none, would both store a retried batch twice.
      if (request.headers['idempotency-key'] !== undefined) {
        throw new ValidationError('Idempotency-Key names one message and a batch holds several: give each message of the batch its own id (a retried batch is then deduplicated message by message)', [{ path: 'Idempotency-Key', message: 'not accepted on a batch' }]);
      }
      const parsed = batchInputSchema.safeParse(request.body);
      if (!parsed.success) throw new ValidationError(`invalid batch: ${parsed.error.issues[0]!.message}; send { "messages": [ ... ] }`, issuesOf(parsed.error));
      const now = ctx.now();
      const input = inputContext(channel, request.params.name, now);
      const raw = rawBodies.get(request);
      const rawData = raw === undefined ? [] : rawBatchDataOf(raw);
      const messages = parsed.data.messages.map((m, i) => toNewMessage(m, input, `messages.${i}`, rawData[i]));
      const ids = new Set<string>();
      for (const [i, m] of messages.entries()) {
        if (ids.has(m.id)) throw new ValidationError(`message id '${m.id}' appears twice in the batch`, [{ path: `messages.${i}.id`, message: 'repeated in this batch' }]);
        ids.add(m.id);
      }
      if (await throttled(reply, request.params.name)) return reply;
      const results = await ctx.store.send(request.params.name, traced(request, request.params.name, messages));
      const fresh = messages.filter((_, i) => !results[i]!.duplicate);
      if (fresh.length > 0) accepted(request.params.name, fresh);
      // As for one message: 200 when nothing new was stored (every message a duplicate), 202 otherwise.
      return reply.code(fresh.length === 0 ? 200 : 202).send({ items: results.map((r) => (r.duplicate ? r : withoutDuplicate(r))) });
    });
  }

  app.get<{ Params: { id: string }; Querystring: unknown }>('/v1/messages/:id', async (request) => {
    const query = parseQuery(channelQuery, request.query);
    const views = await ctx.store.getMessage(request.params.id, query.channel);
    if (views.length === 0) throw new NotFoundError(`no message '${request.params.id}'${query.channel ? ` on '${query.channel}'` : ''} (delivered messages are kept for delivery.retention)`);
    if (views.length > 1) {
      throw new ValidationError(`message id '${request.params.id}' exists on several channels (${views.map((v) => v.message.channel).join(', ')}); add ?channel=<name>`);
    }
    const view = views[0]!;
    return {
      ...presentMessage(view.message),
      status: messageStatus(view.deliveries.map((d) => d.status)),
      deliveries: view.deliveries.map((d) => ({
        target: d.target,
        status: d.status,
        attempts: d.attempts,
        nextAttemptAt: d.status === 'retrying' || d.status === 'scheduled' || d.status === 'stalled' ? iso(d.availableAt) : null,
        lastError: d.lastError,
        result: d.result,
        updatedAt: iso(d.updatedAt),
        history: d.history.map((a) => ({ ...a, startedAt: iso(a.startedAt) })),
      })),
    };
  });
}

function withoutDuplicate(result: SendResult): Omit<SendResult, 'duplicate'> {
  const { duplicate: _duplicate, ...rest } = result;
  return rest;
}

function notFoundText(kind: string, name: string, known: string[], hint?: string): string {
  return `${kind} '${name}' is not configured${hint ? `; ${hint}` : ''} (configured ${kind}s: ${known.join(', ') || 'none'})`;
}

export function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

/** Deepest stored data shown as JSON; the configuration cannot allow deeper (delivery.maxDepth ≤ 1000). */
const RENDER_DEPTH = 1_000;

/**
 * Stored data as the producer wrote it (the answer carries its text, so `1.0` and long integers
 * read as they will be delivered), or, when it cannot be shown as JSON (stored before the depth
 * limit existed, or unreadable), `data: null` and the stored text in `dataText`: one message
 * never fails a listing.
 */
export function presentData(text: string): { data: unknown; dataText?: string } {
  if (jsonDepthExceeds(text, RENDER_DEPTH)) return { data: null, dataText: text };
  try {
    JSON.parse(text);
    return { data: new RawJson(text) };
  } catch {
    return { data: null, dataText: text };
  }
}

export function presentMessage(m: {
  id: string; channel: string; key: string | null; type: string; data: string; metadata: object; createdAt: number; deliverAt: number | null; sequence: number | null;
  priority?: number; expiresAt?: number | null;
}) {
  return {
    id: m.id,
    channel: m.channel,
    key: m.key,
    type: m.type,
    ...presentData(m.data),
    metadata: m.metadata,
    createdAt: iso(m.createdAt),
    deliverAt: iso(m.deliverAt),
    sequence: m.sequence,
    priority: m.priority ?? 0,
    expiresAt: iso(m.expiresAt ?? null),
  };
}
