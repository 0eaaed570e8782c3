import { join } from 'node:path';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildConfig } from '../../src/config/load.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { createServer } from '../../src/server/app.js';
import { createEventHub } from '../../src/server/event-hub.js';
import { createSqliteStore, type SqliteStore } from '../../src/storage/sqlite/sqlite-store.js';
import { tempDir } from '../support/temp.js';

const channels: ConfigInput = {
  server: { bodyLimit: 16_384 },
  delivery: { maxPayload: 1_024 },
  endpoints: { sink: { url: 'http://127.0.0.1:9' } },
  queues: {
    audits: { preset: 'ancillary', endpoint: 'sink', path: '/audits' },
    provisionings: { preset: 'aggregate-fifo', endpoint: 'sink', path: '/provisionings' },
  },
  topics: { events: { subscriptions: { 'read-models': { preset: 'domain-events', endpoint: 'sink', path: '/events' } } } },
};

interface Api {
  app: FastifyInstance;
  store: SqliteStore;
  /** Targets the routes asked the dispatcher to look at. */
  wakes: string[][];
  close(): Promise<void>;
}

/** The HTTP API over a real SQLite file, driven in-process; the dispatcher is left out. */
async function openApi(input: ConfigInput): Promise<Api> {
  const dir = tempDir();
  const config = buildConfig({ ...input, storage: { sqlite: { path: join(dir.path, 'offload.db'), durability: 'process' } } }, { env: {} });
  const store = createSqliteStore({ path: join(dir.path, 'offload.db'), durability: 'process' });
  await store.migrate();
  await store.declare(config.channels);
  // What the dispatcher would be woken for: the store's wake-ups at commit (sends), and the API's own (operations).
  const wakes: string[][] = [];
  store.onWake((targets) => wakes.push([...targets]));
  const app = createServer({ config, store, wake: (targets) => wakes.push([...targets]), events: createEventHub(), ready: () => true, now: () => Date.now() }, { logger: false });
  await app.ready();
  return {
    app,
    store,
    wakes,
    async close() {
      await app.close();
      await store.close();
      dir.cleanup();
    },
  };
}

interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail: string;
  errors?: Array<{ path: string; message: string }>;
}

function expectProblem(res: LightMyRequestResponse, status: number, type: string, detail: RegExp | string): ProblemBody {
  expect(res.statusCode, res.body).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  const body = res.json<ProblemBody>();
  expect(body.type).toBe(`urn:offload:problem:${type}`);
  expect(body.status).toBe(status);
  expect(body.title.length).toBeGreaterThan(0);
  if (typeof detail === 'string') expect(body.detail).toBe(detail);
  else expect(body.detail).toMatch(detail);
  return body;
}

const json = (payload: unknown, headers: Record<string, string> = {}) => ({ payload: JSON.stringify(payload), headers: { 'content-type': 'application/json', ...headers } });

describe('bad input (SPEC §9)', () => {
  let api: Api;
  /** Stored messages per target, by the store's own count. */
  const depths = async () => Object.fromEntries((await api.store.stats()).filter((s) => s.kind !== 'topic').map((s) => [s.name, s.depth]));
  const send = (url: string, payload: unknown, headers: Record<string, string> = {}) => api.app.inject({ method: 'POST', url, ...json(payload, headers) });
  const seeded = { audits: 1, provisionings: 1, 'events/read-models': 1 };

  beforeEach(async () => {
    api = await openApi(channels);
    expect((await send('/v1/queues/audits/messages', { id: 'seed-a', type: 'audit.recorded', data: { n: 1 } })).statusCode).toBe(202);
    expect((await send('/v1/queues/provisionings/messages', { id: 'seed-p', key: 'tenant-1', data: { n: 2 } })).statusCode).toBe(202);
    expect((await send('/v1/topics/events/messages', { id: 'seed-e', key: 'tenant-1', data: { n: 3 } })).statusCode).toBe(202);
    api.wakes.length = 0;
  });

  afterEach(async () => {
    // Whatever was refused, the server keeps serving and the stored messages are as they were.
    const ok = await send('/v1/queues/audits/messages', { id: 'after', data: { ok: true } });
    expect(ok.statusCode).toBe(202);
    expect(ok.json()).toEqual({ id: 'after', status: 'queued' });
    for (const [id, data] of [['seed-a', { n: 1 }], ['seed-p', { n: 2 }], ['seed-e', { n: 3 }]] as const) {
      const view = await api.app.inject({ method: 'GET', url: `/v1/messages/${id}` });
      expect(view.statusCode).toBe(200);
      expect(view.json()).toMatchObject({ id, data, status: 'queued' });
    }
    await api.close();
  });

  it('malformed JSON', async () => {
    const res = await api.app.inject({ method: 'POST', url: '/v1/queues/audits/messages', payload: '{"data": {', headers: { 'content-type': 'application/json' } });
    expectProblem(res, 400, 'malformed_json', /^the body is not valid JSON: /);
    expect(await depths()).toEqual(seeded);
    expect(api.wakes).toEqual([]);
  });

  it('an empty body', async () => {
    const empty = 'the body is empty; send a JSON object such as { "data": { ... } }';
    const res = await api.app.inject({ method: 'POST', url: '/v1/queues/audits/messages', payload: '', headers: { 'content-type': 'application/json' } });
    expect(expectProblem(res, 400, 'invalid_request', empty).errors).toEqual([{ path: '(body)', message: 'required' }]);
    expectProblem(await api.app.inject({ method: 'POST', url: '/v1/queues/audits/messages' }), 400, 'invalid_request', empty);
    const batch = await api.app.inject({ method: 'POST', url: '/v1/queues/audits/messages/batch', payload: '', headers: { 'content-type': 'application/json' } });
    expectProblem(batch, 400, 'invalid_request', /^invalid batch: .*; send \{ "messages": \[ \.\.\. \] \}$/);
    expect(await depths()).toEqual(seeded);
  });

  it('a body that is not a JSON object', async () => {
    for (const payload of [[{ data: 1 }], 'text', null, 42]) {
      const body = expectProblem(await send('/v1/queues/audits/messages', payload), 400, 'invalid_request', /^invalid message: .*object/);
      expect(body.errors).toEqual([{ path: '(body)', message: expect.stringContaining('object') }]);
    }
    expect(await depths()).toEqual(seeded);
  });

  it('a body that is not JSON at all', async () => {
    for (const [payload, type] of [['data=1', 'application/x-www-form-urlencoded'], ['{"data":1}', 'text/plain'], ['{"data":1}', 'text/plain; charset=utf-8']]) {
      const res = await api.app.inject({ method: 'POST', url: '/v1/queues/audits/messages', payload, headers: { 'content-type': type! } });
      expectProblem(res, 415, 'unsupported_media_type', 'send the body as application/json');
    }
    expect(await depths()).toEqual(seeded);
  });

  it('data missing', async () => {
    const body = expectProblem(await send('/v1/queues/audits/messages', { id: 'x-1', type: 'audit.recorded' }), 400, 'invalid_request', 'invalid message: data is required: the JSON payload to deliver');
    expect(body.errors).toEqual([{ path: 'data', message: 'data is required: the JSON payload to deliver' }]);
    expect(await depths()).toEqual(seeded);
  });

  it('wrong types', async () => {
    const id = expectProblem(await send('/v1/queues/audits/messages', { id: 42, data: {} }), 400, 'invalid_request', /^invalid message: .*expected string/);
    expect(id.errors).toEqual([{ path: 'id', message: expect.stringContaining('expected string') }]);
    const spaced = expectProblem(await send('/v1/queues/audits/messages', { id: 'has space', data: {} }), 400, 'invalid_request', /printable ASCII/);
    expect(spaced.errors).toEqual([{ path: 'id', message: "use 1-200 printable ASCII characters without spaces (not '.' or '..')" }]);
    const tenant = expectProblem(await send('/v1/queues/audits/messages', { data: {}, metadata: { tenantId: 7 } }), 400, 'invalid_request', /expected string/);
    expect(tenant.errors).toEqual([{ path: 'metadata.tenantId', message: expect.stringContaining('expected string') }]);
    const delay = expectProblem(await send('/v1/queues/audits/messages', { data: {}, delay: 'soon' }), 400, 'invalid_request', "delay 'soon' is not a duration: write it like 250ms, 30s or 5m");
    expect(delay.errors).toEqual([{ path: 'delay', message: 'not a duration' }]);
    const trace = (t: string) => send('/v1/queues/audits/messages', { data: {}, metadata: { traceparent: t } });
    for (const invalid of ['ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', `00-${'0'.repeat(32)}-b7ad6b7169203331-01`, `00-0af7651916cd43dd8448eb211c80319c-${'0'.repeat(16)}-01`]) {
      const refused = expectProblem(await trace(invalid), 400, 'invalid_request', /not version ff, no all-zero trace or parent id/);
      expect(refused.errors).toEqual([{ path: 'metadata.traceparent', message: expect.stringContaining('W3C traceparent') }]);
    }
    expect(await depths()).toEqual(seeded);
    expect((await trace('00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01')).statusCode).toBe(202);
  });

  it('unknown keys in the message or its metadata', async () => {
    const meta = expectProblem(await send('/v1/queues/audits/messages', { data: {}, metadata: { tenant: 't-1' } }), 400, 'invalid_request', /"tenant"/);
    expect(meta.errors).toEqual([{ path: 'metadata', message: expect.stringContaining('"tenant"') }]);
    const top = expectProblem(await send('/v1/queues/audits/messages', { data: {}, payload: {} }), 400, 'invalid_request', /"payload"/);
    expect(top.errors).toEqual([{ path: '(body)', message: expect.stringContaining('"payload"') }]);
    const reserved = expectProblem(await send('/v1/queues/audits/messages', { data: {}, metadata: { headers: { 'Webhook-Signature': 'x', 'bad header': 'y' } } }), 400, 'invalid_request', "invalid message: 'Webhook-Signature' is set by Offload or changes how the request travels; a message cannot set it");
    expect(reserved.errors).toEqual([
      { path: 'metadata.headers.Webhook-Signature', message: "'Webhook-Signature' is set by Offload or changes how the request travels; a message cannot set it" },
      { path: 'metadata.headers.bad header', message: expect.stringMatching(/^'bad header' is not a header name/) },
    ]);
    expect(await depths()).toEqual(seeded);
  });

  it('an unknown queue or topic, naming the configured ones', async () => {
    expectProblem(await send('/v1/queues/nope/messages', { data: {} }), 404, 'not_found', "queue 'nope' is not configured (configured queues: audits, provisionings)");
    expectProblem(await send('/v1/topics/nope/messages', { data: {} }), 404, 'not_found', "topic 'nope' is not configured (configured topics: events)");
    expectProblem(await send('/v1/queues/events/messages/batch', { messages: [{ data: {} }] }), 404, 'not_found', /'events' is a topic: POST \/v1\/topics\/events\/messages/);
    expectProblem(await send('/v1/topics/audits/messages', { data: {} }), 404, 'not_found', /'audits' is a queue: POST \/v1\/queues\/audits\/messages/);
    expect(await depths()).toEqual(seeded);
    expect(api.wakes).toEqual([]);
  });

  it('an oversize payload: 413 naming delivery.maxPayload', async () => {
    const data = { text: 'x'.repeat(1_100) };
    expectProblem(await send('/v1/queues/audits/messages', { data }), 413, 'payload_too_large', 'data is 1111 bytes; the limit is 1024 (delivery.maxPayload)');
    expectProblem(await send('/v1/topics/events/messages', { data }), 413, 'payload_too_large', /delivery\.maxPayload/);
    const exact = await send('/v1/queues/audits/messages', { id: 'fits', data: 'x'.repeat(1_022) });
    expect(exact.statusCode).toBe(202);
    expect(await depths()).toEqual({ ...seeded, audits: 2 });
  });

  it('an oversize body: 413 naming server.bodyLimit', async () => {
    const messages = Array.from({ length: 40 }, (_, i) => ({ id: `big-${i}`, data: 'x'.repeat(500) }));
    const res = await send('/v1/queues/audits/messages/batch', { messages });
    expectProblem(res, 413, 'payload_too_large', /server\.bodyLimit/);
    expect(await depths()).toEqual(seeded);
  });

  it('a fifo message without a key', async () => {
    const body = expectProblem(await send('/v1/queues/provisionings/messages', { data: {} }), 400, 'invalid_request', "'provisionings' is a fifo queue: every message needs a key (the aggregate id)");
    expect(body.errors).toEqual([{ path: 'key', message: 'required on a fifo queue' }]);
    const batch = expectProblem(await send('/v1/queues/provisionings/messages/batch', { messages: [{ key: 'k', data: {} }, { data: {} }] }), 400, 'invalid_request', /needs a key/);
    expect(batch.errors).toEqual([{ path: 'messages.1.key', message: 'required on a fifo queue' }]);
    expect(await depths()).toEqual(seeded);
  });

  it('a batch with one invalid message stores none of it', async () => {
    const messages = [{ id: 'b-0', data: { n: 0 } }, { id: 'b-1', data: { n: 1 } }, { id: 'b-2', type: 'has space', data: { n: 2 } }];
    const body = expectProblem(await send('/v1/queues/audits/messages/batch', { messages }), 400, 'invalid_request', /^invalid message at messages\.2: /);
    expect(body.errors).toEqual([{ path: 'messages.2.type', message: "use 1-200 printable ASCII characters without spaces (not '.' or '..')" }]);
    const missing = expectProblem(await send('/v1/topics/events/messages/batch', { messages: [{ data: 1 }, { id: 'e-1' }] }), 400, 'invalid_request', /messages\.1/);
    expect(missing.errors).toEqual([{ path: 'messages.1.data', message: 'data is required: the JSON payload to deliver' }]);
    const oversize = await send('/v1/queues/audits/messages/batch', { messages: [{ id: 'b-0', data: 1 }, { id: 'b-1', data: 'x'.repeat(2_000) }] });
    expectProblem(oversize, 413, 'payload_too_large', /^data at messages\.1 is 2002 bytes/);
    expect((await api.app.inject({ method: 'GET', url: '/v1/messages/b-0' })).statusCode).toBe(404);
    expect(await depths()).toEqual(seeded);
    expect(api.wakes).toEqual([]);
  });

  it('a batch that is not { messages: [...] } or repeats an id', async () => {
    expectProblem(await send('/v1/queues/audits/messages/batch', [{ data: 1 }]), 400, 'invalid_request', /send \{ "messages": \[ \.\.\. \] \}$/);
    expectProblem(await send('/v1/queues/audits/messages/batch', { messages: [] }), 400, 'invalid_request', 'invalid batch: send at least one message; send { "messages": [ ... ] }');
    expectProblem(await send('/v1/queues/audits/messages/batch', { messages: {} }), 400, 'invalid_request', /expected array/);
    const twice = expectProblem(await send('/v1/queues/audits/messages/batch', { messages: [{ id: 'r', data: 1 }, { id: 'r', data: 2 }] }), 400, 'invalid_request', "message id 'r' appears twice in the batch");
    expect(twice.errors).toEqual([{ path: 'messages.1.id', message: 'repeated in this batch' }]);
    expect(await depths()).toEqual(seeded);
  });

  it('a repeated id answers 200 duplicate with the original id and status, and leaves the stored message as it was', async () => {
    const res = await send('/v1/queues/audits/messages', { id: 'seed-a', type: 'audit.changed', data: { n: 999 } });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ id: 'seed-a', status: 'queued', duplicate: true });
    const topic = await send('/v1/topics/events/messages', { id: 'seed-e', key: 'tenant-2', data: { n: 999 } });
    expect(topic.statusCode).toBe(200);
    expect(topic.json()).toMatchObject({ id: 'seed-e', status: 'queued', duplicate: true });
    const view = (await api.app.inject({ method: 'GET', url: '/v1/messages/seed-a' })).json();
    expect(view).toMatchObject({ id: 'seed-a', type: 'audit.recorded', data: { n: 1 }, status: 'queued' });
    expect((await api.app.inject({ method: 'GET', url: '/v1/messages/seed-e' })).json()).toMatchObject({ key: 'tenant-1', data: { n: 3 }, sequence: 1 });
    const batch = await send('/v1/queues/audits/messages/batch', { messages: [{ id: 'new-1', data: 1 }, { id: 'seed-a', data: 2 }] });
    expect(batch.statusCode).toBe(202);
    expect(batch.json()).toEqual({ items: [{ id: 'new-1', status: 'queued' }, { id: 'seed-a', status: 'queued', duplicate: true }] });
    expect(await depths()).toEqual({ ...seeded, audits: 2 });
    expect(api.wakes).toEqual([['audits']]);
    // A batch that stores nothing new answers as one duplicate does: 200.
    const again = await send('/v1/queues/audits/messages/batch', { messages: [{ id: 'new-1', data: 1 }, { id: 'seed-a', data: 2 }] });
    expect(again.statusCode).toBe(200);
    expect(again.json().items.map((i: { duplicate?: boolean }) => i.duplicate)).toEqual([true, true]);
    expect(await depths()).toEqual({ ...seeded, audits: 2 });
  });

  it('uses the Idempotency-Key header as the id', async () => {
    const first = await send('/v1/queues/audits/messages', { data: { v: 1 } }, { 'idempotency-key': 'order-17-receipt' });
    expect(first.statusCode).toBe(202);
    expect(first.json()).toEqual({ id: 'order-17-receipt', status: 'queued' });
    const again = await send('/v1/queues/audits/messages', { data: { v: 2 } }, { 'idempotency-key': 'order-17-receipt' });
    expect(again.statusCode).toBe(200);
    expect(again.json()).toEqual({ id: 'order-17-receipt', status: 'queued', duplicate: true });
    expect((await api.app.inject({ method: 'GET', url: '/v1/messages/order-17-receipt' })).json()).toMatchObject({ data: { v: 1 } });
    const bad = expectProblem(await send('/v1/queues/audits/messages', { data: 1 }, { 'idempotency-key': 'not valid' }), 400, 'invalid_request', /Idempotency-Key/);
    expect(bad.errors?.[0]?.path).toBe('Idempotency-Key');
    // An empty header is a mistake, not its absence: taken as absent, a retry would be stored twice.
    const empty = expectProblem(await send('/v1/queues/audits/messages', { data: 1 }, { 'idempotency-key': '' }), 400, 'invalid_request', /the Idempotency-Key header is empty/);
    expect(empty.errors?.[0]?.path).toBe('Idempotency-Key');
    // Both given: the same value is fine, two different ones are refused (which one would name the message?).
    const same = await send('/v1/queues/audits/messages', { id: 'order-18-receipt', data: { v: 1 } }, { 'idempotency-key': 'order-18-receipt' });
    expect(same.json()).toEqual({ id: 'order-18-receipt', status: 'queued' });
    const differ = expectProblem(await send('/v1/queues/audits/messages', { id: 'order-19', data: 1 }, { 'idempotency-key': 'order-20' }), 400, 'invalid_request', /Idempotency-Key header \('order-20'\) and the body's id \('order-19'\) differ/);
    expect(differ.errors?.[0]?.path).toBe('Idempotency-Key');
    expect(await depths()).toEqual({ ...seeded, audits: 3 });
  });

  it('refuses an Idempotency-Key header on a batch, which would not make a retried batch a duplicate, storing nothing', async () => {
    for (const path of ['/v1/queues/audits/messages/batch', '/v1/topics/events/messages/batch']) {
      const refused = expectProblem(await send(path, { messages: [{ key: 'k', data: { order: 42 } }] }, { 'idempotency-key': 'batch-retry-1' }), 400, 'invalid_request', /give each message of the batch its own id/);
      expect(refused.errors?.[0]?.path).toBe('Idempotency-Key');
    }
    expect(await depths()).toEqual(seeded);
  });

  it('an unknown route or message', async () => {
    expectProblem(await api.app.inject({ method: 'GET', url: '/v1/nothing?x=1' }), 404, 'not_found', 'no route GET /v1/nothing; see GET /openapi.json');
    expectProblem(await api.app.inject({ method: 'PUT', url: '/v1/queues/audits/messages' }), 404, 'not_found', /^no route PUT /);
    expectProblem(await api.app.inject({ method: 'GET', url: '/v1/messages/never-sent' }), 404, 'not_found', /^no message 'never-sent'/);
  });

  it('an invalid limit on dead letters', async () => {
    for (const [limit, message] of [['0', 'limit is at least 1'], ['5000', 'limit is at most 1000'], ['ten', 'a whole number']] as const) {
      const body = expectProblem(await api.app.inject({ method: 'GET', url: `/v1/queues/audits/deadletters?limit=${limit}` }), 400, 'invalid_request', new RegExp(`^invalid query: .*${message}`));
      expect(body.errors).toEqual([{ path: 'limit', message: expect.stringContaining(message) }]);
    }
    const ok = await api.app.inject({ method: 'GET', url: '/v1/queues/audits/deadletters?limit=10' });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toEqual({ items: [], next: null });
    expectProblem(await api.app.inject({ method: 'GET', url: '/v1/queues/nope/deadletters' }), 404, 'not_found', /configured queues: audits, provisionings/);
  });

  it('a malformed percent-encoding in the path', async () => {
    for (const url of ['/v1/queues/%E0%A4%A/messages', '/v1/messages/%E0%A4%A']) {
      const method = url.includes('/queues/') ? 'POST' : 'GET';
      expectProblem(await api.app.inject({ method, url, ...json({ data: 1 }) }), 400, 'invalid_request', /not valid percent-encoded UTF-8/);
    }
    expect(await depths()).toEqual(seeded);
  });

  it('a NUL character in a path or query parameter, or in the ids of a redrive or purge: 400 before any lookup, on every store', async () => {
    for (const [method, url, field] of [
      ['GET', '/v1/messages/a%00b', 'id'],
      ['GET', '/v1/messages?key=a%00b', 'key'],
      ['GET', '/v1/messages?type=%00', 'type'],
      ['POST', '/v1/queues/provisionings/parked/k%00/retry', 'key'],
      ['POST', '/v1/queues/provisionings/parked/k%00/skip', 'key'],
      ['GET', '/v1/queues/provisionings/parked?cursor=%00', 'cursor'],
    ] as const) {
      const res = await api.app.inject({ method, url, ...(method === 'POST' ? json({}) : {}) });
      expectProblem(res, 400, 'invalid_request', new RegExp(`parameter '${field}' holds a NUL character`));
    }
    for (const url of ['/v1/queues/audits/deadletters/redrive', '/v1/topics/events/subscriptions/read-models/skipped/redeliver']) {
      expectProblem(await send(url, { ids: ['ok-id', 'bad\u0000'] }), 400, 'invalid_request', /not a message id/);
    }
    expectProblem(await api.app.inject({ method: 'DELETE', url: '/v1/queues/audits/deadletters', ...json({ ids: ['a b'] }) }), 400, 'invalid_request', /not a message id/);
    // Ids Offload makes itself (a notification's) may pass 200 characters: an operator can still name one.
    const long = `offload.message.deadlettered:audits:${'x'.repeat(200)}:1:1`;
    expect((await api.app.inject({ method: 'DELETE', url: '/v1/queues/audits/deadletters', ...json({ ids: [long] }) })).json()).toEqual({ purged: 0, notFound: [long] });
    for (const cursor of ['1e20', '-1', '0x10', '99999999999999999999']) {
      expectProblem(await api.app.inject({ method: 'GET', url: `/v1/queues/audits/deadletters?cursor=${cursor}` }), 400, 'invalid_request', /cursor is not one this server gave out/);
    }
    expect(await depths()).toEqual(seeded);
  });

  it('a path segment over 1000 characters: 414 with a short detail that does not repeat the path', async () => {
    for (const [method, url] of [
      ['POST', `/v1/queues/${'q'.repeat(5000)}/messages`],
      ['POST', `/v1/deliveries/${'t'.repeat(1001)}/complete`],
      ['GET', `/v1/messages/${'%E2%9C%93'.repeat(1001)}`],
    ] as const) {
      const res = await api.app.inject({ method, url, ...json({ data: 1 }) });
      const body = expectProblem(res, 414, 'invalid_request', /path segment is longer than 1000 characters/);
      expect(res.body.length).toBeLessThan(400);
      expect(body.detail).not.toMatch(/qqq|ttt/);
    }
    expect(await depths()).toEqual(seeded);
  });

  it('a delay or deliverAt later than any date can be (the message could never be shown)', async () => {
    const delay = expectProblem(await send('/v1/queues/audits/messages', { id: 'far', data: 1, delay: '99999999999d' }), 400, 'invalid_request', 'delay is too far in the future: the latest possible time is +275760-09-13T00:00:00.000Z');
    expect(delay.errors).toEqual([{ path: 'delay', message: 'too far in the future' }]);
    const at = expectProblem(await send('/v1/queues/audits/messages/batch', { messages: [{ data: 1 }, { id: 'far', data: 1, deliverAt: 9e15 }] }), 400, 'invalid_request', /^deliverAt at messages\.1 is too far in the future/);
    expect(at.errors).toEqual([{ path: 'messages.1.deliverAt', message: 'too far in the future' }]);
    const latest = await send('/v1/queues/audits/messages', { id: 'latest', data: 1, deliverAt: 8_640_000_000_000_000 });
    expect(latest.json()).toEqual({ id: 'latest', status: 'scheduled' });
    expect((await api.app.inject({ method: 'GET', url: '/v1/messages/latest' })).json()).toMatchObject({ status: 'scheduled', deliverAt: '+275760-09-13T00:00:00.000Z' });
    expect(await depths()).toEqual({ ...seeded, audits: 2 });
  });

  it('delays on a topic, whose events go out in publish order', async () => {
    const topic = expectProblem(await send('/v1/topics/events/messages', { data: 1, delay: '5s' }), 400, 'invalid_request', 'topics deliver in publish order; deliverAt and delay are for queues');
    expect(topic.errors).toEqual([{ path: 'delay', message: 'for queues only: topics deliver in publish order' }]);
    expect(await depths()).toEqual(seeded);
  });

  it('deliverAt and delay together (one would be ignored), and epoch milliseconds that are no time, refused saying what to write', async () => {
    for (const channel of ['audits', 'provisionings']) {
      const both = expectProblem(await send(`/v1/queues/${channel}/messages`, { key: 'k', data: 1, deliverAt: Date.now() + 60_000, delay: '5s' }), 400, 'invalid_request', 'invalid message: give deliverAt or delay, not both');
      expect(both.errors).toEqual([{ path: 'delay', message: 'give deliverAt or delay, not both' }]);
    }
    const batch = expectProblem(await send('/v1/queues/provisionings/messages/batch', { messages: [{ key: 'k', data: 1 }, { key: 'k', data: 1, deliverAt: '2030-01-01T00:00:00Z', delay: '1m' }] }), 400, 'invalid_request', /at messages\.1: give deliverAt or delay/);
    expect(batch.errors).toEqual([{ path: 'messages.1.delay', message: 'give deliverAt or delay, not both' }]);
    for (const deliverAt of [1e308, 2 ** 53, -1, 1.5, 'now', '2026-12-31T23:59:60Z']) {
      const body = expectProblem(await send('/v1/queues/audits/messages', { data: 1, deliverAt }), 400, 'invalid_request', /^invalid message: an ISO 8601 time with a time zone \(2026-01-31T12:00:00Z\) or epoch milliseconds \(a whole number, 0 or more\)$/);
      expect(body.errors, String(deliverAt)).toEqual([{ path: 'deliverAt', message: expect.stringContaining('epoch milliseconds') }]);
    }
    expect(await depths()).toEqual(seeded);
  });
});

describe('API keys (SPEC §11)', () => {
  let api: Api;
  const keys = { producer: 'p-key', viewer: 'v-key', operator: 'o-key', anyProducer: 'p2-key' };
  const call = (method: 'GET' | 'HEAD' | 'POST' | 'DELETE', url: string, key?: string, payload?: unknown) =>
    api.app.inject({
      method,
      url,
      headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), ...(payload === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(payload === undefined ? {} : { payload: JSON.stringify(payload) }),
    });
  const audits = async () => (await api.store.stats()).find((s) => s.name === 'audits')!.depth;

  beforeEach(async () => {
    api = await openApi({
      ...channels,
      server: {
        apiKeys: [
          { key: keys.producer, role: 'producer', channels: ['audits'] },
          { key: keys.viewer, role: 'viewer' },
          { key: keys.operator, role: 'operator' },
          { key: keys.anyProducer, role: 'producer', channels: ['*'] },
        ],
      },
    });
  });
  afterEach(async () => api.close());

  it('answers 401 without a valid key, and keeps /healthz and /readyz open', async () => {
    expectProblem(await call('POST', '/v1/queues/audits/messages', undefined, { data: 1 }), 401, 'unauthorized', 'send an API key as Authorization: Bearer <key>');
    for (const key of ['wrong', `${keys.operator}x`, keys.operator.slice(0, -1)]) {
      // A key that is not configured is told so (without repeating it).
      const res = await call('POST', '/v1/queues/audits/messages', key, { data: 1 });
      expectProblem(res, 401, 'unauthorized', /this API key is not one of the configured keys/);
      expect(res.body).not.toContain(key);
      expectProblem(await call('GET', '/v1/channels', key), 401, 'unauthorized', /not one of the configured keys/);
    }
    expectProblem(await api.app.inject({ method: 'GET', url: '/v1/channels', headers: { authorization: keys.operator } }), 401, 'unauthorized', /Bearer/);
    expectProblem(await api.app.inject({ method: 'GET', url: '/v1/channels', headers: { authorization: `Basic ${keys.operator}` } }), 401, 'unauthorized', /Bearer/);
    expectProblem(await api.app.inject({ method: 'GET', url: '/v1/channels', headers: { authorization: `Bearer ${keys.operator} extra` } }), 401, 'unauthorized', /not one of the configured keys/);
    // The scheme is case-insensitive (RFC 9110).
    for (const scheme of ['bearer', 'BEARER', 'Bearer  ']) {
      expect((await api.app.inject({ method: 'GET', url: '/v1/channels', headers: { authorization: `${scheme} ${keys.operator}` } })).statusCode).toBe(200);
    }
    expect((await call('GET', '/healthz')).json()).toEqual({ status: 'ok' });
    expect((await call('GET', '/readyz')).statusCode).toBe(200);
    expect(await audits()).toBe(0);
  });

  it('lets a producer key send only to its own channels', async () => {
    expect((await call('POST', '/v1/queues/audits/messages', keys.producer, { data: 1 })).statusCode).toBe(202);
    expect((await call('POST', '/v1/queues/audits/messages/batch', keys.producer, { messages: [{ data: 2 }] })).statusCode).toBe(202);
    const forbidden = 'this producer key may only send to its own channels';
    expectProblem(await call('POST', '/v1/topics/events/messages', keys.producer, { data: 1 }), 403, 'forbidden', forbidden);
    expectProblem(await call('POST', '/v1/queues/provisionings/messages', keys.producer, { key: 'k', data: 1 }), 403, 'forbidden', forbidden);
    expectProblem(await call('GET', '/v1/channels', keys.producer), 403, 'forbidden', forbidden);
    expectProblem(await call('GET', '/v1/messages/x', keys.producer), 403, 'forbidden', forbidden);
    expectProblem(await call('POST', '/v1/queues/audits/pause', keys.producer), 403, 'forbidden', forbidden);
    expectProblem(await call('POST', '/v1/queues/audits/deadletters/redrive', keys.producer, {}), 403, 'forbidden', forbidden);
    expect(await audits()).toBe(2);
    expect((await api.store.stats()).find((s) => s.name === 'provisionings')!.depth).toBe(0);
    expect((await call('POST', '/v1/topics/events/messages', keys.anyProducer, { data: 1 })).statusCode).toBe(202);
  });

  it('lets a viewer read but not write', async () => {
    expect((await call('GET', '/v1/channels', keys.viewer)).statusCode).toBe(200);
    expect((await call('GET', '/v1/queues/audits/deadletters', keys.viewer)).statusCode).toBe(200);
    expect((await call('GET', '/openapi.json', keys.viewer)).statusCode).toBe(200);
    expect((await call('HEAD', '/v1/channels', keys.viewer)).statusCode).toBe(200);
    const readOnly = 'a viewer key can only read';
    expectProblem(await call('POST', '/v1/queues/audits/messages', keys.viewer, { data: 1 }), 403, 'forbidden', readOnly);
    expectProblem(await call('POST', '/v1/queues/audits/pause', keys.viewer), 403, 'forbidden', readOnly);
    expectProblem(await call('DELETE', '/v1/queues/audits/deadletters', keys.viewer), 403, 'forbidden', readOnly);
    expect(await audits()).toBe(0);
    expect((await api.store.stats()).find((s) => s.name === 'audits')!.paused).toBe(false);
  });

  it('lets an operator do everything', async () => {
    expect((await call('POST', '/v1/queues/audits/messages', keys.operator, { id: 'o-1', data: 1 })).statusCode).toBe(202);
    expect((await call('POST', '/v1/topics/events/messages', keys.operator, { data: 1 })).statusCode).toBe(202);
    expect((await call('GET', '/v1/messages/o-1', keys.operator)).json()).toMatchObject({ id: 'o-1', status: 'queued' });
    expect((await call('POST', '/v1/queues/audits/pause', keys.operator)).json()).toEqual({ name: 'audits', paused: true });
    expect((await call('POST', '/v1/queues/audits/resume', keys.operator)).json()).toEqual({ name: 'audits', paused: false });
    expect((await call('POST', '/v1/queues/audits/deadletters/redrive', keys.operator, {})).json()).toEqual({ redriven: 0 });
    expect((await call('DELETE', '/v1/queues/audits/deadletters', keys.operator)).json()).toEqual({ purged: 0 });
    expect((await call('GET', '/v1/channels', keys.operator)).statusCode).toBe(200);
    expect(await audits()).toBe(1);
  });
});
