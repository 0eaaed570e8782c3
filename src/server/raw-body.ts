import type { FastifyRequest } from 'fastify';

/**
 * The JSON text of each request's body, as received (after the UTF-8, depth and number checks).
 * Routes that store a message's data take its exact text from here rather than serializing the
 * parsed value again: that would turn `1.0` into `1` and cost a pass over the payload.
 * Weak, so an entry lives exactly as long as its request.
 */
export const rawBodies = new WeakMap<FastifyRequest, string>();
