import fc from 'fast-check';
import type { InjectOptions } from 'fastify';
import { openApiDocument } from '../../src/server/openapi.js';

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
    priority: fc.oneof(fc.integer({ min: -120, max: 120 }), fc.constantFrom(-0, 0.5, 1e308, -1e308, 2 ** 53, '5', 'NaN', null, true), fc.double()),
    expiresAt: fc.oneof(
      fc.constantFrom('2030-01-01T00:00:00Z', '2030-01-01T00:00:00+14:00', '2030-01-01T00:00:00-23:59', '2000-01-01T00:00:00Z', '0000-01-01T00:00:00Z', '10000-01-01T00:00:00Z', '2026-12-31T23:59:60Z', 'tomorrow', ''),
      fc.integer(),
      fc.constantFrom(8_640_000_000_000_000, 8_640_000_000_000_001, 2 ** 53, 1e308, -0),
      fc.double(),
    ),
    ttl: fc.oneof(fc.constantFrom('5m', '1h', '0s', '-5m', '999999d', '99999999999d', '1e999s', '0.4ms', '', ' 5m ', 'soon'), fc.integer(), fc.constant(null)),
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

/** A seek: both, neither, wrong types and extremes. */
const hostileSeek: fc.Arbitrary<Record<string, unknown>> = fc.record(
  {
    sequence: fc.oneof(fc.integer({ min: -2, max: 6 }), fc.constantFrom(2 ** 53 - 1, 2 ** 53, 1e308, 1.5, '1', 'NaN', null), fc.double()),
    time: fc.oneof(
      fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
      fc.constantFrom('2026-01-31T09:00:00Z', '2999-01-01T00:00:00Z', '0000-01-01T00:00:00Z', '9999-12-31T23:59:59+23:59', '2026-12-31T23:59:60Z', '2026-01-31T09:00:00', 'yesterday', '', 1_700_000_000_000),
    ),
    from: fc.constant('start'),
  },
  { requiredKeys: [] },
);

/** A seek: a reachable point often, a hostile one more often. */
const seekBody: fc.Arbitrary<Record<string, unknown>> = fc.oneof(
  { weight: 2, arbitrary: fc.oneof(fc.record({ sequence: fc.integer({ min: 1, max: 5 }) }), fc.record({ time: fc.date({ min: new Date('2020-01-01'), max: new Date('2040-01-01'), noInvalidDate: true }).map((d) => d.toISOString()) })) },
  { weight: 3, arbitrary: hostileSeek },
);

/** A completion: outcomes known and unknown, reasons and retryAfter at and past their limits. */
const hostileCompletion: fc.Arbitrary<Record<string, unknown>> = fc.record(
  {
    outcome: fc.oneof({ weight: 4, arbitrary: fc.constantFrom('delivered', 'retry', 'permanent') }, fc.constantFrom('done', 'Delivered', '', null, 1)),
    reason: fc.oneof(fc.string({ maxLength: 20 }), fc.constantFrom('', 'r'.repeat(1_001), null, 5)),
    retryAfter: fc.oneof(fc.integer({ min: -5, max: 90_000 }), fc.constantFrom(86_400, 86_401, 1e308, -0, 0.5, '30', null)),
    appliedThrough: fc.oneof(fc.constantFrom('seed-a', 'seed-e', 'nope', '', 'x'.repeat(201)), fc.string({ maxLength: 8 })),
    extra: fc.jsonValue({ maxDepth: 1 }),
  },
  { requiredKeys: [] },
);

/** A completion: a valid outcome sometimes (the seeded deferral settles once), a hostile one mostly. */
const completionBody: fc.Arbitrary<Record<string, unknown>> = fc.oneof(
  { weight: 1, arbitrary: fc.oneof(fc.constant({ outcome: 'delivered' }), fc.record({ outcome: fc.constant('retry'), retryAfter: fc.integer({ min: 0, max: 60 }) }), fc.record({ outcome: fc.constant('permanent'), reason: fc.string({ minLength: 1, maxLength: 20 }) })) },
  { weight: 3, arbitrary: hostileCompletion },
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
  { weight: 1, arbitrary: seekBody.map((b) => JSON.stringify(b)) },
  { weight: 1, arbitrary: completionBody.map((b) => JSON.stringify(b)) },
);

/** Routes with their usual method; segments are filled with generated values. */
const METHODS = ['get', 'post', 'put', 'delete', 'patch'];
/** Every documented route (the event stream aside: it never ends), so a new route is fuzzed the day it is documented. */
export const DOCUMENTED_ROUTES: Array<[string, string]> = Object.entries((openApiDocument('fuzz') as { paths: Record<string, Record<string, unknown>> }).paths)
  .flatMap(([path, item]) => Object.keys(item).filter((m) => METHODS.includes(m)).map((m): [string, string] => [m.toUpperCase(), path]))
  .filter(([method, path]) => !(method === 'GET' && path === '/v1/events'));

const ROUTES: Array<[string, string]> = [...DOCUMENTED_ROUTES, ['GET', '/dashboard'], ['GET', '/'], ['GET', '/v1/nothing']];

/** The test replaces it with the completion token of a deferred delivery it seeded. */
export const SEEDED_TOKEN = 'seeded-token';

const segmentFor: Record<string, fc.Arbitrary<string>> = {
  q: fc.oneof({ weight: 4, arbitrary: fc.constantFrom('audits', 'provisionings', '_notify.0') }, pathSegment),
  t: fc.oneof({ weight: 4, arbitrary: fc.constant('events') }, pathSegment),
  s: fc.oneof({ weight: 4, arbitrary: fc.constant('read-models') }, pathSegment),
  key: fc.oneof({ weight: 2, arbitrary: fc.constant('k1') }, pathSegment),
  id: fc.oneof({ weight: 2, arbitrary: fc.constantFrom('seed-a', 'seed-p1', 'seed-e') }, pathSegment),
  schedule: fc.oneof({ weight: 1, arbitrary: fc.constant('nightly') }, pathSegment),
  token: fc.oneof(
    { weight: 3, arbitrary: fc.constant(SEEDED_TOKEN) },
    fc.constantFrom('1.1.AAAAAAAAAAAAAAAAAAAAAA', '0.0.AAAAAAAAAAAAAAAAAAAAAA', '1.01.AAAAAAAAAAAAAAAAAAAAAA', '999999999999999.999999999.AAAAAAAAAAAAAAAAAAAAAA', '1.-1.AAAAAAAAAAAAAAAAAAAAAA', '1e3.1.AAAAAAAAAAAAAAAAAAAAAA', 'x'.repeat(65), encodeURIComponent('ü.ü.ü'), '..%2F..%2Fhealthz'),
    pathSegment,
  ),
};

/** Which generated segment fills a path parameter (`{name}` is a queue, a topic or a schedule by where it stands). */
function segmentOf(path: string, param: string): keyof typeof segmentFor {
  if (param === 'name') return path.startsWith('/v1/topics/') ? 't' : path.startsWith('/v1/schedules/') ? 'schedule' : 'q';
  return ({ topic: 't', sub: 's', key: 'key', id: 'id', token: 'token' } as Record<string, keyof typeof segmentFor>)[param] ?? 'id';
}

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
    segments: fc.record(segmentFor),
    query: fc.oneof({ weight: 2, arbitrary: fc.constant('') }, queryPart),
    headers,
    body: rawBody,
    /** Routes with a body of their own (seek, completion) get one of theirs most of the time. */
    own: fc.record({ seek: seekBody, completion: completionBody, use: fc.nat(3) }),
  })
  .map(({ route, method, query, headers: h, body: generic, own, segments }) => {
    const ownBody = route[1].endsWith('/seek') ? own.seek : route[1].endsWith('/complete') ? own.completion : undefined;
    const body = ownBody !== undefined && own.use > 0 ? JSON.stringify(ownBody) : generic;
    const url = route[1].replace(/\{(\w+)\}/g, (_, name: string) => segments[segmentOf(route[1], name)]!) + query;
    const chosen = (method ?? route[0]) as InjectOptions['method'];
    return { method: chosen, url, headers: h, ...(body === undefined || chosen === 'GET' || chosen === 'HEAD' ? {} : { payload: body }) };
  });
