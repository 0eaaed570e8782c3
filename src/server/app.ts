import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { authorize } from './auth.js';
import type { ServerContext } from './context.js';
import type { Metrics } from './metrics.js';
import { openApiDocument } from './openapi.js';
import { errorHandler, sendProblem } from './problem.js';
import { messageRoutes } from './routes/messages.js';
import { operationRoutes } from './routes/operations.js';
import { dashboardRoutes } from './routes/dashboard.js';

export const VERSION = '0.1.0';

/** Builds the HTTP API (SPEC §9). Tests drive it in-process with `app.inject()`. */
export function createServer(ctx: ServerContext, options: { logger?: Logger | false; metrics?: Metrics } = {}): FastifyInstance {
  const app = Fastify({
    loggerInstance: (options.logger || undefined) as FastifyBaseLogger | undefined,
    bodyLimit: ctx.config.server.bodyLimit,
    logController: new LogController({ disableRequestLogging: true }),
    return503OnClosing: true,
    forceCloseConnections: true,
    // Requests the router refuses (a malformed percent-encoding) get the same problem answers.
    frameworkErrors: (error, request, reply) => errorHandler(error, request, reply),
  });
  app.setErrorHandler(errorHandler);
  // Operator actions are POSTs without a body; accept an empty body even when sent as JSON.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if (body === '') done(null, undefined);
    else parseJson(request, body as string, done);
  });
  app.setNotFoundHandler((request, reply) => sendProblem(reply, 404, 'not_found', `no route ${request.method} ${request.url.split('?')[0]}; see GET /openapi.json`));
  app.addHook('onRequest', async (request) => authorize(ctx.config.server.apiKeys, request));

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    let storeOk = true;
    try {
      await ctx.store.ping();
    } catch {
      storeOk = false;
    }
    const ready = storeOk && ctx.ready();
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not ready', store: storeOk ? 'ok' : 'unreachable' });
  });
  const doc = openApiDocument(VERSION);
  app.get('/openapi.json', async () => doc);
  app.get('/metrics', async (_request, reply) => {
    if (!options.metrics) return sendProblem(reply, 404, 'not_found', 'metrics are not enabled');
    return reply.type(options.metrics.registry.contentType).send(await options.metrics.registry.metrics());
  });
  app.get('/v1/events', (request, reply) => {
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    res.write(': connected\n\n');
    const unsubscribe = ctx.events.subscribe((event) => res.write(`event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`));
    const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), 15_000);
    request.raw.on('close', () => {
      clearInterval(heartbeat);
      unsubscribe();
    });
  });

  messageRoutes(app, ctx, options.metrics);
  operationRoutes(app, ctx);
  dashboardRoutes(app);
  return app;
}
