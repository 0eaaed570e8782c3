import fc from 'fast-check';
import type { InjectOptions } from 'fastify';

/** Generators of hostile and careless input for the HTTP API. */

const tricky = ['.', '..', '%2e', '%2E%2E', '%', '%zz', '%00', '%2F', 'a%2Fb', '%C3%28', '%FF', ' ', '~', '*', '__proto__', 'constructor', 'toString'];

/** A path segment: configured names, tricky encodings, and arbitrary text percent-encoded. */
export const pathSegment: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom('audits', 'provisionings', 'events', 'read-models', 'k1', 'seed-a', 'seed-p1', 'nope', ...tricky),
  fc.string({ maxLength: 24 }).map(encodeURIComponent),
  fc.string({ unit: 'binary', maxLength: 24 }).map(encodeURIComponent),
  fc.string({ unit: fc.constantFrom(...'ab.-_~!$&\'()*+,;=:@%'.split('')), minLength: 1, maxLength: 12 }),
  fc.constant('x'.repeat(1_200)),
);

export const channelName: fc.Arbitrary<string> = fc.oneof(
  fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,20}$/),
  fc.string({ unit: 'grapheme', maxLength: 16 }).map(encodeURIComponent),
);

/** Ids, keys and types: valid, nearly valid and plainly wrong. */
const identifier: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: fc.stringMatching(/^[\x21-\x7e]{1,24}$/) },
  { weight: 1, arbitrary: fc.constantFrom('.', '..', '', ' ', 'a b', 'x'.repeat(201), 'é', '\u0000', 'a/b', '%2e%2e') },
  { weight: 1, arbitrary: fc.oneof(fc.string({ unit: 'grapheme', maxLength: 8 }), fc.integer(), fc.constant(null), fc.array(fc.string(), { maxLength: 2 })) },
);

const headerName: fc.Arbitrary<string> = fc.oneof(
  fc.stringMatching(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,20}$/),
  fc.constantFrom('Authorization', 'authorization', 'host', 'content-length', 'Content-Type', 'transfer-encoding', 'proxy-authorization', 'x-forwarded-for', 'cookie', 'traceparent', 'ce-id', 'webhook-signature', 'x-real-ip', 'te', 'expect', 'x-tenant', 'X-Tenant'),
  fc.string({ maxLength: 12 }),
);
const headerValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: fc.stringMatching(/^[\x21-\x7e]([\x20-\x7e]{0,30}[\x21-\x7e])?$/) },
  { weight: 1, arbitrary: fc.constantFrom('a\r\nx: y', 'a\nb', 'a\u0000b', 'a\r\n b', ' lead', 'trail ', 'é', '\u2028', 'v'.repeat(5_000)) },
  { weight: 1, arbitrary: fc.oneof(fc.string({ unit: 'binary', maxLength: 12 }), fc.integer(), fc.constant(null)) },
);

/** JSON nested `depth` levels, built as text (a value object this deep could not be serialized). */
const nestedText = fc.tuple(fc.integer({ min: 10, max: 30 }), fc.integer({ min: 100, max: 20_000 }), fc.boolean()).map(([near, far, useFar]) => {
  const depth = useFar ? far : near;
  return `${'['.repeat(depth)}1${']'.repeat(depth)}`;
});

const data: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 5, arbitrary: fc.jsonValue({ maxDepth: 4 }) },
  { weight: 1, arbitrary: fc.constant(undefined) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 64 }) },
  { weight: 1, arbitrary: fc.constant('d'.repeat(9_000)) },
);

const message: fc.Arbitrary<Record<string, unknown>> = fc.record(
  {
    id: identifier,
    key: identifier,
    type: identifier,
    data,
    metadata: fc.oneof(
      fc.record(
        {
          tenantId: fc.oneof(fc.string({ maxLength: 10 }), fc.integer(), fc.constant('t'.repeat(201))),
          correlationId: fc.string({ maxLength: 10 }),
          traceparent: fc.oneof(fc.constant('00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'), fc.string({ maxLength: 20 })),
          headers: fc.oneof(fc.dictionary(headerName, headerValue, { maxKeys: 5 }), fc.dictionary(fc.string({ maxLength: 4 }), fc.constant('v'), { minKeys: 30, maxKeys: 40 }), fc.string()),
          extra: fc.jsonValue({ maxDepth: 2 }),
        },
        { requiredKeys: [] },
      ),
      fc.jsonValue({ maxDepth: 2 }),
    ),
    delay: fc.oneof(fc.constantFrom('30s', '250ms', '5m', '1d', '10', '-1s', '1e999s', 'soon'), fc.integer(), fc.double()),
    deliverAt: fc.oneof(fc.constantFrom('2030-01-01T00:00:00Z', 'tomorrow', '+275760-09-13T00:00:00.001Z'), fc.integer(), fc.constant(8_640_000_000_000_001), fc.double()),
    unknown: fc.jsonValue({ maxDepth: 1 }),
  },
  { requiredKeys: ['data'] },
);

/** A message body as a value or as raw text (text can hold what values cannot: 1e999, deep nesting). */
export const messageBody: fc.Arbitrary<Record<string, unknown> | string> = fc.oneof(
  { weight: 6, arbitrary: message },
  { weight: 1, arbitrary: nestedText.map((t) => `{"data":${t}}`) },
  { weight: 1, arbitrary: fc.constantFrom('{"data":1e999}', '{"data":-1e400}', `{"data":${'9'.repeat(400)}}`, '{"data":1e308}', '{"data":{"__proto__":{"x":1}}}', '{"data":"\\ud800"}', '{"data":1,"data":2}') },
);

const rawBody: fc.Arbitrary<string | Buffer | undefined> = fc.oneof(
  { weight: 4, arbitrary: messageBody.map((b) => (typeof b === 'string' ? b : JSON.stringify(b))) },
  { weight: 2, arbitrary: fc.array(message, { maxLength: 4 }).map((messages) => JSON.stringify({ messages })) },
  { weight: 1, arbitrary: nestedText.map((t) => `{"messages":[{"data":${t}}]}`) },
  { weight: 1, arbitrary: fc.record({ ids: fc.oneof(fc.array(fc.oneof(fc.string({ maxLength: 8 }), fc.integer()), { maxLength: 4 }), fc.string()) }, { requiredKeys: [] }).map((b) => JSON.stringify(b)) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 64 }) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((bytes) => Buffer.from(bytes)) },
  { weight: 1, arbitrary: fc.constantFrom('', '{', '[', 'null', '"x"', '{"data":', '\ufeff{"data":1}', '{"messages":[]}') },
  { weight: 1, arbitrary: fc.constant(undefined) },
);

/** Routes with their usual method; segments are filled with generated values. */
const ROUTES: Array<[string, string]> = [
  ['POST', '/v1/queues/{q}/messages'],
  ['POST', '/v1/queues/{q}/messages/batch'],
  ['POST', '/v1/topics/{t}/messages'],
  ['POST', '/v1/topics/{t}/messages/batch'],
  ['GET', '/v1/messages/{id}'],
  ['GET', '/v1/messages'],
  ['GET', '/v1/rates'],
  ['POST', '/v1/drain'],
  ['GET', '/v1/channels'],
  ['GET', '/v1/breakers'],
  ['GET', '/v1/queues/{q}/deadletters'],
  ['POST', '/v1/queues/{q}/deadletters/redrive'],
  ['DELETE', '/v1/queues/{q}/deadletters'],
  ['GET', '/v1/queues/{q}/parked'],
  ['POST', '/v1/queues/{q}/parked/{key}/retry'],
  ['POST', '/v1/queues/{q}/parked/{key}/skip'],
  ['GET', '/v1/queues/{q}/skipped'],
  ['POST', '/v1/queues/{q}/skipped/redeliver'],
  ['GET', '/v1/topics/{t}/subscriptions/{s}'],
  ['POST', '/v1/topics/{t}/subscriptions/{s}/retry'],
  ['POST', '/v1/topics/{t}/subscriptions/{s}/skip'],
  ['GET', '/v1/topics/{t}/subscriptions/{s}/skipped'],
  ['POST', '/v1/topics/{t}/subscriptions/{s}/skipped/redeliver'],
  ['POST', '/v1/queues/{q}/pause'],
  ['POST', '/v1/queues/{q}/resume'],
  ['POST', '/v1/topics/{t}/pause'],
  ['POST', '/v1/topics/{t}/resume'],
  ['POST', '/v1/topics/{t}/subscriptions/{s}/pause'],
  ['POST', '/v1/topics/{t}/subscriptions/{s}/resume'],
  ['GET', '/healthz'],
  ['GET', '/readyz'],
  ['GET', '/metrics'],
  ['GET', '/openapi.json'],
  ['GET', '/dashboard'],
  ['GET', '/'],
  ['GET', '/v1/nothing'],
];

const segmentFor: Record<string, fc.Arbitrary<string>> = {
  q: fc.oneof({ weight: 4, arbitrary: fc.constantFrom('audits', 'provisionings', '_notify.0') }, pathSegment),
  t: fc.oneof({ weight: 4, arbitrary: fc.constant('events') }, pathSegment),
  s: fc.oneof({ weight: 4, arbitrary: fc.constant('read-models') }, pathSegment),
  key: fc.oneof({ weight: 2, arbitrary: fc.constant('k1') }, pathSegment),
  id: fc.oneof({ weight: 2, arbitrary: fc.constantFrom('seed-a', 'seed-p1', 'seed-e') }, pathSegment),
};

const queryPart: fc.Arbitrary<string> = fc
  .array(
    fc.tuple(
      fc.oneof(fc.constantFrom('limit', 'cursor', 'key', 'channel', 'types', 'status', 'type', 'since', 'until', 'x'), fc.string({ maxLength: 6 }).map(encodeURIComponent)),
      fc.oneof(
        fc.constantFrom('1', '0', '-1', '10', '1000', '1001', '1e3', 'abc', '', 'events', 'audits', 'k1', 'delivered', 'deadlettered', 'MTA=', '2026-01-01T00:00:00Z', '1700000000000', '9'.repeat(30)),
        fc.string({ maxLength: 12 }).map(encodeURIComponent),
      ),
      fc.boolean(),
    ),
    { maxLength: 4 },
  )
  .map((pairs) => (pairs.length === 0 ? '' : `?${pairs.map(([k, v, bare]) => (bare && v === '' ? k : `${k}=${v}`)).join('&')}`));

const latin1 = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 40 });
const headers: fc.Arbitrary<Record<string, string>> = fc.record(
  {
    'content-type': fc.oneof({ weight: 6, arbitrary: fc.constant('application/json') }, fc.constantFrom('application/json; charset=utf-8', 'text/plain', 'application/x-www-form-urlencoded', 'application/cloudevents+json', 'multipart/form-data', 'application/json; charset=latin1'), latin1),
    'idempotency-key': fc.oneof(fc.constantFrom('.', '..', 'k-1', 'x'.repeat(201)), latin1),
    authorization: fc.oneof(fc.constantFrom('Bearer x', 'Basic x'), latin1),
    accept: fc.constantFrom('application/json', 'text/event-stream', '*/*'),
  },
  { requiredKeys: [] },
);

export const anyRequest: fc.Arbitrary<InjectOptions> = fc
  .record({
    route: fc.constantFrom(...ROUTES),
    method: fc.oneof({ weight: 8, arbitrary: fc.constant(null) }, fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS')),
    q: segmentFor.q!,
    t: segmentFor.t!,
    s: segmentFor.s!,
    key: segmentFor.key!,
    id: segmentFor.id!,
    query: fc.oneof({ weight: 2, arbitrary: fc.constant('') }, queryPart),
    headers,
    body: rawBody,
  })
  .map(({ route, method, query, headers: h, body, ...segments }) => {
    const url = route[1].replace(/\{(\w+)\}/g, (_, name: string) => segments[name as keyof typeof segments]) + query;
    const chosen = (method ?? route[0]) as InjectOptions['method'];
    return { method: chosen, url, headers: h, ...(body === undefined || chosen === 'GET' || chosen === 'HEAD' ? {} : { payload: body }) };
  });
