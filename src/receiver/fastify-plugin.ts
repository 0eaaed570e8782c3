import type { FastifyPluginAsync } from 'fastify';
import type { Receiver } from './receiver.js';

export interface FastifyPluginOptions {
  /** Route path inside the plugin's prefix. Default `/`. */
  path?: string;
}

/**
 * `app.register(fastifyPlugin(receiver), { prefix: '/offload/events' })`. The plugin keeps its
 * own encapsulated content-type parser that hands over the body as a Buffer, so the signature is
 * checked over the exact bytes and the application's JSON parser stays as it is elsewhere.
 */
export function fastifyPlugin(receiver: Receiver, options: FastifyPluginOptions = {}): FastifyPluginAsync {
  return async (app) => {
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: receiver.maxBodyBytes }, (_request, body, done) => done(null, body));
    app.post(options.path ?? '/', { bodyLimit: receiver.maxBodyBytes }, async (request, reply) => {
      const body = Buffer.isBuffer(request.body) ? request.body : new Uint8Array(0);
      const answer = await receiver.handle({ method: request.method, header: (name) => headerValue(request.headers[name]), body });
      return reply.code(answer.status).headers(answer.headers).send(answer.body);
    });
  };
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}
