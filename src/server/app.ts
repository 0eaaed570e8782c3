import { isUtf8 } from 'node:buffer';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { ValidationError } from '../domain/errors.js';
import { guardJson } from '../domain/json-guard.js';
import { authorize } from './auth.js';
import { createEventTokens } from './event-tokens.js';
import type { ServerContext } from './context.js';
import type { Metrics } from './metrics.js';
import { openApiDocument } from './openapi.js';
import { checkQueryShape, refuseNul } from './query.js';
import { rawBodies } from './raw-body.js';
import { stringifyReply } from './raw-reply.js';
import { DEFAULT_EVENT_STREAM_LIMITS, parseTypes, streamEvents, type EventStreamLimits } from './event-stream.js';
import type { LogThrottle } from './log-throttle.js';
import { clientErrorAnswer, errorHandler, sendProblem } from './problem.js';
import { messageRoutes } from './routes/messages.js';
import { messageSearchRoutes } from './routes/message-search.js';
import { rateRoutes } from './routes/rates.js';
import { operationRoutes } from './routes/operations.js';
import { dashboardRoutes } from './routes/dashboard.js';
import { drainRoutes } from './routes/drain.js';
import { flowRoutes } from './routes/flow.js';
import { scheduleRoutes } from './routes/schedules.js';
import { completionRoutes } from './routes/completions.js';
import { seekRoutes } from './routes/seek.js';

export const VERSION = '0.1.0';

/** Builds the HTTP API (SPEC §9). Tests drive it in-process with `app.inject()`. */
export function createServer(ctx: ServerContext, options: { logger?: Logger | false; metrics?: Metrics; eventStream?: Partial<EventStreamLimits>; logThrottle?: LogThrottle } = {}): FastifyInstance {
  const app = Fastify({
    loggerInstance: (options.logger || undefined) as FastifyBaseLogger | undefined,
    bodyLimit: ctx.config.server.bodyLimit,
    logController: new LogController({ disableRequestLogging: true }),
    return503OnClosing: true,
    // Ids are up to 200 characters; percent-encoded each may take three. Given as a router
    // option: the top-level spelling is deprecated and warns on every start.
    routerOptions: { maxParamLength: 1_000 },
    forceCloseConnections: true,
    // A client that stalls mid-request is cut off (408), not left holding a socket and a partial body.
    requestTimeout: ctx.config.server.requestTimeout,
    // Node 20 applies the limit only when the server is created with it, and looks for such
    // requests every 30 s by default: here often enough for the limit to mean what it says.
    http: {
      requestTimeout: ctx.config.server.requestTimeout,
      connectionsCheckingInterval: Math.min(5_000, Math.max(100, ctx.config.server.requestTimeout / 4)),
    },
    clientErrorHandler: clientErrorAnswer,
    // Requests the router refuses (a malformed percent-encoding) get the same problem answers.
    frameworkErrors: (error, request, reply) => errorHandler(error, request, reply, options.logThrottle),
  });
  app.setErrorHandler((error: Error, request, reply) => errorHandler(error, request, reply, options.logThrottle));
  // Answers that show a message's data write its stored text (RawJson) as it is.
  app.setReplySerializer((payload) => stringifyReply(payload));
  // Operator actions are POSTs without a body; accept an empty body even when sent as JSON.
  // `__proto__` and `constructor.prototype` are valid JSON a producer may have in its data: they
  // are taken out of the parsed object (which Offload's own code reads) and stay in the data's
  // text (which is what is stored and delivered).
  const parseJson = app.getDefaultJsonParser('remove', 'remove');
  // Room for the envelope (a batch wraps data in three levels); each message's data is then checked exactly, with its path.
  const bodyDepth = ctx.config.delivery.maxDepth + 8;
  // Bodies are JSON only: text/plain gets the same 415 as any other type, not a schema error.
  app.removeContentTypeParser('text/plain');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, raw, done) => {
    const buffer = raw as Buffer;
    if (buffer.length === 0) return done(null, undefined);
    // Decoding would silently replace invalid bytes with U+FFFD and store something else than was sent.
    if (!isUtf8(buffer)) return done(new ValidationError('the body is not valid UTF-8; send JSON encoded as UTF-8'), undefined);
    // A byte order mark (which RFC 8259 lets a parser ignore) goes before the data is located in the text.
    const decoded = buffer.toString('utf8');
    const text = decoded.charCodeAt(0) === 0xfeff ? decoded.slice(1) : decoded;
    const guarded = guardJson(text, bodyDepth);
    if (!guarded.ok) {
      if (guarded.reason === 'number') return done(new ValidationError(`the number ${guarded.token} is too large for JSON to carry (it would become Infinity); send it as a string`), undefined);
      return done(new ValidationError(`the body nests objects and arrays deeper than the limit (delivery.maxDepth: ${ctx.config.delivery.maxDepth} levels of data); flatten it`), undefined);
    }
    const hidden = text.includes('__proto__') || text.includes('prototype') ? hiddenKeyOutsideData(text) : null;
    if (hidden) return done(new ValidationError(`${hidden}: a key named __proto__ (or constructor.prototype) is allowed only inside data`, [{ path: hidden, message: 'not allowed outside data' }]), undefined);
    // Kept so that a message's data is stored as the producer wrote it, not as re-serialized.
    rawBodies.set(request, text);
    parseJson(request, text, done);
  });
  app.setNotFoundHandler((request, reply) => sendProblem(reply, 404, 'not_found', `no route ${request.method} ${request.url.split('?')[0]}; see GET /openapi.json`));
  const tokens = createEventTokens({ now: () => ctx.now() });
  app.addHook('onRequest', async (request) => authorize(ctx.config.server.apiKeys, request, tokens));
  app.addHook('onRequest', bodyBudget(ctx.config.server.maxBodiesInFlight, ctx.config.server.bodyLimit));
  app.addHook('onRequest', async (request) => {
    checkQueryShape(request.routeOptions.url, request.query);
    refuseNul(request.params, request.query);
  });
  app.addHook('onResponse', async (request, reply) => {
    if (request.method !== 'GET' && reply.statusCode < 400) ctx.changed?.();
  });

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    let storeOk = true;
    try {
      await ctx.store.ping();
    } catch {
      storeOk = false;
    }
    const writes = ctx.writes?.() ?? { failing: false, reason: null };
    const ready = storeOk && !writes.failing && ctx.ready();
    // A test setup says so, so that it is never mistaken for a production instance.
    const testing = ctx.config.testing.drain ? { drain: 'enabled' } : {};
    return reply.code(ready ? 200 : 503).send({
      status: ready ? 'ready' : 'not ready',
      store: storeOk ? 'ok' : 'unreachable',
      writes: writes.failing ? 'failing' : 'ok',
      ...(writes.failing ? { reason: writes.reason } : {}),
      ...testing,
    });
  });
  const doc = openApiDocument(VERSION);
  app.get('/openapi.json', async () => doc);
  app.get('/metrics', async (_request, reply) => {
    if (!options.metrics) return sendProblem(reply, 404, 'not_found', 'metrics are not enabled');
    return reply.type(options.metrics.registry.contentType).send(await options.metrics.registry.metrics());
  });
  const streamLimits = { ...DEFAULT_EVENT_STREAM_LIMITS, ...options.eventStream };
  // EventSource cannot send an API key, and a key never goes in a URL: a token for one minute does.
  app.post('/v1/events/token', async () => {
    const { token, expiresAt } = tokens.issue();
    return { token, expiresAt: new Date(expiresAt).toISOString() };
  });
  app.get<{ Querystring: { types?: unknown } }>('/v1/events', (request, reply) => {
    const types = parseTypes(request.query.types);
    reply.hijack();
    streamEvents(reply.raw, ctx.events, types, streamLimits);
  });

  messageRoutes(app, ctx, options.metrics);
  messageSearchRoutes(app, ctx);
  rateRoutes(app, ctx);
  operationRoutes(app, ctx);
  seekRoutes(app, ctx);
  drainRoutes(app, ctx);
  flowRoutes(app, ctx);
  scheduleRoutes(app, ctx);
  completionRoutes(app, ctx);
  dashboardRoutes(app);
  // Past this many, Node closes a new connection at once: an idle-connection flood cannot take the
  // descriptors deliveries and the store need (nor leave /healthz unanswerable for long).
  app.server.maxConnections = ctx.config.server.maxConnections;
  return app;
}

/**
 * Bounds the memory that request bodies being received take, across all requests: each body is
 * counted at its Content-Length (or at `bodyLimit` when it does not say) from before it is read
 * until its answer is sent or its connection closes. A request that would pass `budget` is
 * answered 503 with Retry-After before its body is read, so slow uploads of large bodies cannot
 * hold gigabytes between them.
 */
function bodyBudget(budget: number, bodyLimit: number) {
  let inFlight = 0;
  return async (request: FastifyRequest, reply: FastifyReply) => {
    const length = request.headers['content-length'];
    const chunked = request.headers['transfer-encoding'] !== undefined;
    if (length === undefined && !chunked) return;
    const bytes = Math.min(bodyLimit, length === undefined ? bodyLimit : Number(length) || 0);
    if (bytes === 0) return;
    if (inFlight + bytes > budget) {
      reply.header('retry-after', '1');
      return sendProblem(reply, 503, 'busy', `the server is receiving as many request bodies as it holds at once (server.maxBodiesInFlight, ${budget} bytes); send again shortly`);
    }
    inFlight += bytes;
    let released = false;
    reply.raw.once('close', () => {
      if (released) return;
      released = true;
      inFlight -= bytes;
    });
  };
}

/**
 * The path of a `__proto__` key (or `constructor.prototype`) outside a message's data, or null.
 * The JSON parser takes such keys out of what Offload reads: inside data that changes nothing
 * (the data's text is what is stored and delivered), elsewhere (a metadata header named
 * `__proto__`) it would silently drop what the producer sent, so it is refused instead.
 */
export function hiddenKeyOutsideData(text: string): string | null {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return null; // the parser says what is wrong with it
  }
  const walk = (value: unknown, path: string[]): string | null => {
    if (typeof value !== 'object' || value === null) return null;
    const isData = path.length > 0 && path.at(-1) === 'data' && (path.length === 1 || (path.length === 3 && path[0] === 'messages'));
    if (isData) return null;
    for (const [key, child] of Object.entries(value)) {
      const here = [...path, key];
      if (key === '__proto__' || (key === 'constructor' && typeof child === 'object' && child !== null && 'prototype' in child)) return here.join('.');
      const found = walk(child, here);
      if (found) return found;
    }
    return null;
  };
  return walk(body, []);
}
