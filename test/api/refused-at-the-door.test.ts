import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../../src/config/schema.js';
import { newMessage } from '../../src/domain/message.js';
import { expectProblem, jsonRequest, openApi, type Api } from '../support/api.js';

/** Input that must be refused at the door: a 4xx problem, nothing stored, never a 500. */
const channels: Omit<ConfigInput, 'storage'> = {
  delivery: { maxPayload: 4_096, maxDepth: 64 },
  endpoints: {
    sink: { url: 'http://127.0.0.1:9' },
    billing: { url: 'http://127.0.0.1:9', headers: { Authorization: 'Bearer configured', 'X-Tenant-Scope': 'billing' } },
  },
  queues: {
    audits: { preset: 'ancillary', endpoint: 'sink', path: '/audits' },
    invoices: { preset: 'ancillary', endpoint: 'billing', path: '/invoices' },
    provisionings: { preset: 'aggregate-fifo', endpoint: 'sink', path: '/provisionings' },
  },
  topics: { events: { subscriptions: { 'read-models': { preset: 'domain-events', endpoint: 'billing', path: '/events' } } } },
};

const nested = (depth: number): string => '['.repeat(depth) + ']'.repeat(depth);

describe('input refused at the door', () => {
  let api: Api;
  const send = (url: string, payload: unknown, headers: Record<string, string> = {}) => api.app.inject({ method: 'POST', url, ...jsonRequest(payload, headers) });
  const raw = (url: string, payload: string | Buffer) => api.app.inject({ method: 'POST', url, payload, headers: { 'content-type': 'application/json' } });
  const stored = async () => (await api.store.stats()).filter((s) => s.kind !== 'topic').reduce((n, s) => n + s.depth + s.deadLettered + s.skipped, 0);

  beforeEach(async () => {
    api = await openApi(channels);
  });
  afterEach(async () => {
    await api.close();
  });

  describe('JSON nested deeper than delivery.maxDepth', () => {
    it('is refused in a single message and inside a batch item, and the limit itself is accepted', async () => {
      expect((await raw('/v1/queues/audits/messages', `{"id":"at-limit","data":${nested(64)}}`)).statusCode).toBe(202);
      const over = expectProblem(await raw('/v1/queues/audits/messages', `{"data":${nested(65)}}`), 400, 'invalid_request', /deeper than 64 levels \(delivery\.maxDepth\)/);
      expect(over.errors).toEqual([{ path: 'data', message: 'deeper than 64 levels' }]);
      const batch = `{"messages":[{"id":"ok","data":1},{"data":${nested(65)}}]}`;
      const item = expectProblem(await raw('/v1/queues/audits/messages/batch', batch), 400, 'invalid_request', /^data at messages\.1 nests/);
      expect(item.errors).toEqual([{ path: 'messages.1.data', message: 'deeper than 64 levels' }]);
      expect((await raw('/v1/topics/events/messages/batch', `{"messages":[{"data":${nested(64)}}]}`)).statusCode).toBe(202);
      expect(await stored()).toBe(2);
    });

    it('is refused without parsing at 4,000, 10,000 and 1,000,000 levels, also inside strings-with-brackets and on operator routes', async () => {
      for (const depth of [4_000, 10_000, 1_000_000]) {
        expectProblem(await raw('/v1/queues/audits/messages', `{"data":${nested(depth)}}`), 400, 'invalid_request', /deeper than the limit \(delivery\.maxDepth: 64/);
        expectProblem(await raw('/v1/queues/audits/messages/batch', `{"messages":[{"data":${nested(depth)}}]}`), 400, 'invalid_request', /delivery\.maxDepth/);
        expectProblem(await raw('/v1/queues/audits/deadletters/redrive', `{"ids":${nested(depth)}}`), 400, 'invalid_request', /delivery\.maxDepth/);
      }
      // Brackets inside strings are text, not nesting.
      expect((await raw('/v1/queues/audits/messages', JSON.stringify({ data: { text: nested(1_500), quote: '\\"[[[' } }))).statusCode).toBe(202);
      expect(await stored()).toBe(1);
    });

    it('a message stored before the limit existed still lists on every operator route', async () => {
      const poison = { ...newMessage({ id: 'deep', key: 'k', type: 't', data: null }), data: nested(4_000) };
      await api.store.send('audits', [poison]);
      await api.store.send('provisionings', [poison, { ...poison, id: 'deep-2' }]);
      await api.store.send('events', [poison]);
      const fail = (kind: 'deadletter' | 'park') => ({ kind, reason: 'permanent failure: 400' }) as const;
      for (const [target, kind] of [['audits', 'deadletter'], ['provisionings', 'park']] as const) {
        const [claim] = await api.store.claim({ target, limit: 1, owner: 'test', leaseMs: 30_000 });
        const d = claim!.deliveries[0]!;
        await api.store.settle([{ deliveryId: d.deliveryId, epoch: d.epoch, decision: fail(kind), attempt: { attempt: 1, startedAt: Date.now(), durationMs: 1, statusCode: 400, error: null, response: null } }]);
      }
      const list = async (url: string) => {
        const res = await api.app.inject({ method: 'GET', url });
        expect(res.statusCode, res.body).toBe(200);
        return res.json<{ items: unknown[] }>();
      };
      expect((await list('/v1/queues/audits/deadletters')).items).toEqual([expect.objectContaining({ id: 'deep', data: null, dataText: nested(4_000) })]);
      expect((await list('/v1/queues/provisionings/parked')).items).toEqual([expect.objectContaining({ key: 'k', head: expect.objectContaining({ id: 'deep', dataText: nested(4_000) }) })]);
      expect((await send('/v1/queues/provisionings/parked/k/skip', undefined)).statusCode).toBe(200);
      expect((await list('/v1/queues/provisionings/skipped')).items).toEqual([expect.objectContaining({ id: 'deep', data: null })]);
      const view = await api.app.inject({ method: 'GET', url: '/v1/messages/deep?channel=events' });
      expect(view.statusCode).toBe(200);
      expect(view.json()).toMatchObject({ data: null, dataText: nested(4_000) });
      expect((await list('/v1/topics/events/subscriptions/read-models/skipped')).items).toEqual([]);
    });
  });

  describe('repeated query parameters and unexpected shapes', () => {
    it('a parameter given twice is a 400 on every route that reads one', async () => {
      for (const url of ['/v1/messages/x?channel=a&channel=b', '/v1/queues/audits/deadletters?limit=1&limit=2', '/v1/queues/provisionings/parked?cursor=a&cursor=b', '/v1/queues/provisionings/skipped?limit=1&limit=1']) {
        expectProblem(await api.app.inject({ method: 'GET', url }), 400, 'invalid_request', /is given more than once; give it once$/);
      }
      for (const action of ['retry', 'skip']) {
        expectProblem(await api.app.inject({ method: 'POST', url: `/v1/topics/events/subscriptions/read-models/${action}?key=a&key=b` }), 400, 'invalid_request', "query parameter 'key' is given more than once; give it once");
      }
    });

    it('a parameter a route does not take is a 400 that names it', async () => {
      const body = expectProblem(await api.app.inject({ method: 'POST', url: '/v1/queues/audits/messages?durable=no', ...jsonRequest({ data: 1 }) }), 400, 'invalid_request', "this route does not take the query parameter 'durable'; it takes none");
      expect(body.errors).toEqual([{ path: 'durable', message: 'not taken by this route' }]);
      expectProblem(await api.app.inject({ method: 'GET', url: '/v1/queues/audits/deadletters?limit=5&sort=desc' }), 400, 'invalid_request', "this route does not take the query parameter 'sort'; it takes 'limit', 'cursor'");
      expectProblem(await api.app.inject({ method: 'GET', url: '/v1/channels?x' }), 400, 'invalid_request', /'x'/);
      expectProblem(await api.app.inject({ method: 'GET', url: '/v1/queues/audits/deadletters?limit=1e3' }), 400, 'invalid_request', /whole number/);
      expect(await stored()).toBe(0);
    });

    it('operator bodies of the wrong shape are 400s', async () => {
      for (const payload of ['[]', '"x"', '{"ids":"a"}', '{"ids":[1]}', '{"ids":[]}', '{"all":true}', `{"ids":["${'x'.repeat(1001)}"]}`]) {
        expectProblem(await raw('/v1/queues/audits/deadletters/redrive', payload), 400, 'invalid_request', /^invalid body: /);
      }
    });
  });

  describe('metadata.headers', () => {
    const refused = async (headers: Record<string, string>, detail: RegExp) => {
      const res = await send('/v1/queues/audits/messages', { data: {}, metadata: { headers } });
      return expectProblem(res, 400, 'invalid_request', detail);
    };

    it('names must be HTTP tokens and values HTTP field values: no CR, LF, NUL, obs-fold or characters beyond U+00FF', async () => {
      await refused({ 'x a': '1' }, /'x a' is not a header name/);
      await refused({ 'x:a': '1' }, /not a header name/);
      await refused({ '': '1' }, /not a header name/);
      await refused({ ['x'.repeat(65)]: '1' }, /not a header name/);
      for (const value of ['a\r\nx-injected: 1', 'a\nb', 'a\rb', 'a\u0000b', 'a\r\n b', 'a\u0001b', 'a\u0100b', '\u2028', ' padded', 'padded\t']) {
        const body = await refused({ 'x-note': value }, /^invalid message: header 'x-note': the value/);
        expect(body.errors![0]!.path).toBe('metadata.headers.x-note');
      }
      expect((await send('/v1/queues/audits/messages', { data: {}, metadata: { headers: { 'X-Note': 'café ok', "x!#$%&'*+.^_`|~": 'v' } } })).statusCode).toBe(202);
    });

    it('headers Offload owns or that change transport or identity are refused by name', async () => {
      const names = ['host', 'Content-Length', 'content-type', 'transfer-encoding', 'connection', 'keep-alive', 'upgrade', 'expect', 'te', 'trailer', 'proxy-authorization', 'Proxy-Connection', 'authorization', 'cookie', 'forwarded', 'x-forwarded-for', 'X-Forwarded-Host', 'x-real-ip', 'idempotency-key', 'traceparent', 'tracestate', 'ce-id', 'webhook-signature', 'offload-lane-previous', 'user-agent'];
      for (const name of names) {
        const body = await refused({ [name]: 'x' }, new RegExp(`'${name}' is set by Offload or changes how the request travels; a message cannot set it`));
        expect(body.errors).toEqual([{ path: `metadata.headers.${name}`, message: expect.any(String) }]);
      }
      await refused({ traceparent: 'x' }, /use metadata\.traceparent/);
    });

    it('a bounded count and total size, the same name twice in two cases, and metadata counted toward maxPayload', async () => {
      await refused(Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`x-h${i}`, 'v'])), /^invalid message: 33 headers; at most 32 per message$/);
      await refused({ 'x-a': 'v'.repeat(3_000), 'x-b': 'v'.repeat(3_000), 'x-c': 'v'.repeat(3_000) }, /headers total \d+ bytes; at most 8192/);
      await refused({ 'x-a': 'v'.repeat(4_097) }, /at most 4096/);
      await refused({ 'X-Dup': '1', 'x-dup': '2' }, /'x-dup' is given twice/);
      const big = await send('/v1/queues/audits/messages', { data: 'd'.repeat(2_000), metadata: { headers: { 'x-a': 'v'.repeat(2_100) } } });
      expectProblem(big, 413, 'payload_too_large', /^data and metadata are \d+ bytes; the limit is 4096 \(delivery\.maxPayload\)$/);
      expect(await stored()).toBe(0);
    });

    it("a message can never replace or add to the credentials an endpoint is configured with", async () => {
      for (const name of ['authorization', 'AUTHORIZATION']) {
        const res = await send('/v1/queues/invoices/messages', { data: {}, metadata: { headers: { [name]: 'Bearer producer' } } });
        expectProblem(res, 400, 'invalid_request', new RegExp(`'${name}'`));
      }
      const scope = await send('/v1/queues/invoices/messages', { data: {}, metadata: { headers: { 'x-tenant-scope': 'everyone' } } });
      expectProblem(scope, 400, 'invalid_request', "invalid message: 'x-tenant-scope' is set by the endpoint's configuration; a message cannot replace or repeat it");
      // A topic refuses a header any of its subscriptions' endpoints sets.
      const topic = await send('/v1/topics/events/messages/batch', { messages: [{ data: 1 }, { data: 2, metadata: { headers: { 'X-Tenant-Scope': 'x' } } }] });
      expect(expectProblem(topic, 400, 'invalid_request', /'X-Tenant-Scope' is set by the endpoint's configuration/).errors![0]!.path).toBe('messages.1.metadata.headers.X-Tenant-Scope');
      // The same header is fine on a channel whose endpoint does not set it.
      expect((await send('/v1/queues/audits/messages', { data: {}, metadata: { headers: { 'x-tenant-scope': 'audits' } } })).statusCode).toBe(202);
      expect(await stored()).toBe(1);
    });
  });

  describe('ids', () => {
    it("'.' and '..' are refused as ids, keys and Idempotency-Keys", async () => {
      for (const id of ['.', '..']) {
        expectProblem(await send('/v1/queues/audits/messages', { id, data: 1 }), 400, 'invalid_request', /not '\.' or '\.\.'/);
        expectProblem(await send('/v1/queues/provisionings/messages', { key: id, data: 1 }), 400, 'invalid_request', /not '\.' or '\.\.'/);
        expectProblem(await send('/v1/queues/audits/messages', { data: 1 }, { 'idempotency-key': id }), 400, 'invalid_request', /Idempotency-Key/);
      }
      expect(await stored()).toBe(0);
    });

    it('unusual but valid ids round-trip through GET /v1/messages/{id} when percent-encoded', async () => {
      const ids = ['a/b', 'a?b#c', '%41', 'a%2Fb', '...', '.a', 'a.', '..a', "~!*'()", '\\x', 'a+b&c=d', '[x]{y}', '"q"', '<>', '|^`', '%', '%zz', 'x'.repeat(200)];
      for (const id of ids) expect((await send('/v1/queues/audits/messages', { id, data: { id } })).statusCode).toBe(202);
      for (const id of ids) {
        const res = await api.app.inject({ method: 'GET', url: `/v1/messages/${encodeURIComponent(id)}` });
        expect(res.statusCode, `${id}: ${res.body}`).toBe(200);
        expect(res.json()).toMatchObject({ id, data: { id } });
      }
    });
  });

  describe('numbers JSON cannot represent and invalid UTF-8', () => {
    it('1e999, -1e999 and a 400-digit number are refused, not turned into null', async () => {
      for (const n of ['1e999', '-1E+999', '9'.repeat(400)]) {
        expectProblem(await raw('/v1/queues/audits/messages', `{"data":{"n":${n}}}`), 400, 'invalid_request', /too large for JSON to carry/);
        expectProblem(await raw('/v1/queues/audits/messages/batch', `{"messages":[{"data":[${n}]}]}`), 400, 'invalid_request', /too large for JSON to carry/);
      }
      expect((await raw('/v1/queues/audits/messages', '{"data":{"n":1e308,"m":-2.5E-300,"s":"1e999"}}')).statusCode).toBe(202);
      expect(await stored()).toBe(1);
    });

    it('invalid UTF-8 is refused, not replaced with U+FFFD', async () => {
      for (const bytes of [[0xff], [0xc3, 0x28], [0xed, 0xa0, 0x80], [0xe2, 0x82]]) {
        const payload = Buffer.concat([Buffer.from('{"data":"'), Buffer.from(bytes), Buffer.from('"}')]);
        expectProblem(await raw('/v1/queues/audits/messages', payload), 400, 'invalid_request', 'the body is not valid UTF-8; send JSON encoded as UTF-8');
      }
      expect((await raw('/v1/queues/audits/messages', Buffer.from('{"data":"café ✓ 😀"}'))).statusCode).toBe(202);
      expect(await stored()).toBe(1);
    });
  });

  describe('a bare number where a duration is expected', () => {
    it('is refused in a message delay with the same advice as configuration', async () => {
      expectProblem(await send('/v1/queues/audits/messages', { data: 1, delay: 10 }), 400, 'invalid_request', /write it like 250ms, 30s or 5m \(a bare number is refused\)/);
    });
  });
});
