import { timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { OffloadError } from '../domain/errors.js';
import type { EventTokens } from './event-tokens.js';

export interface ApiKey {
  key: string;
  role: 'producer' | 'operator' | 'viewer';
  channels?: string[];
}

const principals = new WeakMap<FastifyRequest, ApiKey>();

/** The API key a request was authorized with; undefined when the API is open (no keys configured). */
export function principalOf(request: FastifyRequest): ApiKey | undefined {
  return principals.get(request);
}

/** Completing a deferred delivery: producers may, for their own channels (the route checks which channel). */
const COMPLETE = /^\/v1\/deliveries\/[^/]+\/complete$/;

/** Health checks, and the dashboard page and its files (they hold no data; the page asks for a key). */
const OPEN_PATHS = new Set(['/healthz', '/readyz', '/dashboard', '/']);
const OPEN_PREFIX = '/dashboard/';

/**
 * API keys with roles (SPEC §11): producers may only send to their channels (and complete their
 * channels' deferred deliveries), viewers only read,
 * operators do everything. With no keys configured the API is open (it listens on loopback by default).
 */
export function authorize(keys: readonly ApiKey[], request: FastifyRequest, tokens?: EventTokens): void {
  if (keys.length === 0) return;
  const path = request.url.split('?')[0]!;
  if (OPEN_PATHS.has(path) || path.startsWith(OPEN_PREFIX)) return;
  // The event stream alone also takes a short-lived token in its URL (EventSource sends no header).
  const token = (request.query as Record<string, unknown> | undefined)?.token;
  if (tokens && path === '/v1/events' && request.method === 'GET' && typeof token === 'string') {
    if (tokens.verify(token)) return;
    throw new OffloadError('unauthorized', 'the event stream token is not valid or has expired (tokens last a minute); get a new one with POST /v1/events/token');
  }
  const header = request.headers.authorization;
  // The scheme is case-insensitive (RFC 9110 §11.1): `bearer` and `BEARER` are Bearer too.
  const bearer = typeof header === 'string' ? /^bearer +(\S(?:.*\S)?) *$/i.exec(header) : null;
  const given = bearer ? bearer[1] : undefined;
  const key = given === undefined ? undefined : keys.find((k) => safeEqual(k.key, given));
  if (given === undefined) {
    throw new OffloadError('unauthorized', header === undefined ? 'send an API key as Authorization: Bearer <key>' : 'the Authorization header is not Bearer <key>; send an API key as Authorization: Bearer <key>');
  }
  if (!key) throw new OffloadError('unauthorized', 'this API key is not one of the configured keys (server.apiKeys); check the key, or ask for one');
  principals.set(request, key);
  if (key.role === 'operator') return;
  if (key.role === 'producer' && request.method === 'POST' && COMPLETE.test(path)) return;
  const produce = /^\/v1\/(queues|topics)\/([^/]+)\/messages(\/batch)?$/.exec(path);
  if (key.role === 'producer') {
    if (request.method === 'POST' && produce && mayProduce(key, decodeURIComponent(produce[2]!))) return;
    throw new OffloadError('forbidden', 'this producer key may only send to its own channels');
  }
  // A viewer may trade its key for an event stream token: that is reading, too.
  if (request.method === 'GET' || request.method === 'HEAD' || (request.method === 'POST' && path === '/v1/events/token')) return;
  throw new OffloadError('forbidden', 'a viewer key can only read');
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Whether a producer key may send to (and complete deliveries of) a channel: one it names, or any with `*`. */
export function mayProduce(key: Pick<ApiKey, 'channels'>, channel: string): boolean {
  return key.channels !== undefined && (key.channels.includes('*') || key.channels.includes(channel));
}
