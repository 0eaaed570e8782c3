import type { Receiver } from './receiver.js';

/** The part of a Hono `Context` the handler uses. */
export interface HonoContextLike {
  req: { raw: Request; arrayBuffer(): Promise<ArrayBuffer> };
}

/**
 * `app.post('/offload/events', honoMiddleware(receiver))`. Hono's request is already a Web
 * `Request`; when an earlier middleware read the body, Hono's cached bytes are used instead.
 */
export function honoMiddleware(receiver: Receiver): (context: HonoContextLike) => Promise<Response> {
  return async (context) => {
    const raw = context.req.raw;
    if (!raw.bodyUsed) return receiver.fetch(raw);
    const body = await context.req.arrayBuffer();
    return receiver.fetch(new Request(raw.url, { method: raw.method, headers: raw.headers, body }));
  };
}
