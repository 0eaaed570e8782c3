import type { IncomingMessage, ServerResponse } from 'node:http';
import { joinChunks } from './body.js';
import type { Receiver } from './receiver.js';
import { problem, type ReceiverResponse } from './responses.js';

/** What the middleware reads from an Express request: Node's request plus what body parsers leave. */
export type ExpressRequestLike = IncomingMessage & { body?: unknown; rawBody?: unknown };

/**
 * `app.post('/offload/events', expressMiddleware(receiver))`. Mount it before `express.json()`,
 * or behind `express.raw({ type: '*\/*' })`; a body already parsed to an object without the raw
 * bytes kept (`rawBody`) cannot be verified and is refused with a 500 that says so.
 */
export function expressMiddleware(receiver: Receiver): (request: ExpressRequestLike, response: ServerResponse, next: (error?: unknown) => void) => void {
  return (request, response, next) => {
    answer(receiver, request)
      .then((reply) => {
        response.writeHead(reply.status, reply.headers);
        response.end(reply.body);
      })
      .catch(next);
  };
}

async function answer(receiver: Receiver, request: ExpressRequestLike): Promise<ReceiverResponse> {
  let body: Uint8Array | undefined;
  if (request.body instanceof Uint8Array) body = request.body;
  else if (request.rawBody instanceof Uint8Array) body = request.rawBody;
  else if (request.readableEnded) {
    return problem(500, 'body-consumed', 'a body parser read the request before the Offload receiver; mount expressMiddleware before express.json() or use express.raw()');
  } else {
    body = await readNodeBody(request, receiver.maxBodyBytes);
    if (body === undefined) return problem(413, 'payload-too-large', `body over ${receiver.maxBodyBytes} bytes`);
  }
  if (body.length > receiver.maxBodyBytes) return problem(413, 'payload-too-large', `body over ${receiver.maxBodyBytes} bytes`);
  return receiver.handle({ method: request.method ?? 'POST', header: (name) => headerValue(request.headers[name]), body });
}

async function readNodeBody(request: IncomingMessage, limit: number): Promise<Uint8Array | undefined> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Uint8Array>) {
    size += chunk.length;
    if (size > limit) {
      request.resume();
      return undefined;
    }
    chunks.push(chunk);
  }
  return joinChunks(chunks, size);
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}
