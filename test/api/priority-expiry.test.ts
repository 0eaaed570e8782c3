import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { expectProblem, jsonRequest, openApi, type Api } from '../support/api.js';

const config = {
  endpoints: { sink: { url: 'http://127.0.0.1:9' } },
  queues: {
    audits: { endpoint: 'sink' },
    offers: { endpoint: 'sink', ttl: '5m' },
    provisionings: { preset: 'aggregate-fifo' as const, endpoint: 'sink' },
  },
  topics: { events: { subscriptions: { 'read-models': { endpoint: 'sink' } } } },
};

describe('priority and expiry at the door', () => {
  let api: Api;
  const send = (url: string, payload: unknown) => api.app.inject({ method: 'POST', url, ...jsonRequest(payload) });
  const get = async (id: string) => (await api.app.inject({ method: 'GET', url: `/v1/messages/${id}` })).json<{ priority: number; expiresAt: string | null; status: string }>();
  const depth = async (name: string) => (await api.store.stats()).find((s) => s.name === name)!.depth;

  beforeEach(async () => {
    api = await openApi(config);
  });
  afterEach(async () => {
    await api.close();
  });

  it('accepts priority, expiresAt and ttl on a plain queue and shows them on the message and in search', async () => {
    const soon = Date.now() + 60_000;
    expect((await send('/v1/queues/audits/messages', { id: 'p', data: {}, priority: 9, expiresAt: new Date(soon).toISOString() })).statusCode).toBe(202);
    expect(await get('p')).toMatchObject({ priority: 9, expiresAt: new Date(soon).toISOString() });
    const before = Date.now();
    expect((await send('/v1/queues/audits/messages', { id: 'ttl', data: {}, ttl: '10m', deliverAt: before + 60_000 })).statusCode).toBe(202);
    const ttl = Date.parse((await get('ttl')).expiresAt!);
    expect(ttl).toBe(before + 60_000 + 600_000);
    // A deliverAt that has passed: due now, so the ttl counts from now (not from the past, expiring at once).
    expect((await send('/v1/queues/audits/messages', { id: 'ttl-past', data: {}, ttl: '10m', deliverAt: '2000-01-01T00:00:00Z' })).statusCode).toBe(202);
    expect(Date.parse((await get('ttl-past')).expiresAt!)).toBeGreaterThanOrEqual(before + 600_000);
    const batch = await send('/v1/queues/audits/messages/batch', { messages: [{ id: 'b1', data: {}, priority: -5 }, { id: 'b2', data: {}, expiresAt: soon }] });
    expect(batch.statusCode).toBe(202);
    expect(await get('b1')).toMatchObject({ priority: -5, expiresAt: null });
    expect(await get('b2')).toMatchObject({ priority: 0, expiresAt: new Date(soon).toISOString() });
    const search = (await api.app.inject({ method: 'GET', url: '/v1/messages?channel=audits' })).json<{ items: Array<{ id: string; priority: number; expiresAt: string | null }> }>();
    expect(search.items.find((i) => i.id === 'p')).toMatchObject({ priority: 9, expiresAt: new Date(soon).toISOString() });
  });

  it("applies a queue's ttl to messages without their own expiry", async () => {
    const before = Date.now();
    await send('/v1/queues/offers/messages', { id: 'o1', data: {} });
    const expiresAt = Date.parse((await get('o1')).expiresAt!);
    expect(expiresAt).toBeGreaterThanOrEqual(before + 300_000);
    expect(expiresAt).toBeLessThanOrEqual(Date.now() + 300_000);
    // Due at the latest time a Date holds: the queue's ttl stops there, and the message can be shown.
    expect((await send('/v1/queues/offers/messages', { id: 'o-latest', data: {}, deliverAt: 8_640_000_000_000_000 })).statusCode).toBe(202);
    expect(await get('o-latest')).toMatchObject({ status: 'scheduled', expiresAt: '+275760-09-13T00:00:00.000Z' });
  });

  it('refuses priority and expiry on fifo queues and topics, naming the field, and stores nothing', async () => {
    const fifo = expectProblem(await send('/v1/queues/provisionings/messages', { key: 'k', data: {}, priority: 1 }), 400, 'invalid_request', /^priority: priority is for plain queues; 'provisionings' is a fifo queue/);
    expect(fifo.errors).toEqual([{ path: 'priority', message: expect.stringContaining('fifo queue') }]);
    expectProblem(await send('/v1/queues/provisionings/messages', { key: 'k', data: {}, ttl: '5m' }), 400, 'invalid_request', /^ttl: expiry is for plain queues/);
    const topic = expectProblem(await send('/v1/topics/events/messages', { data: {}, expiresAt: Date.now() + 60_000 }), 400, 'invalid_request', /^expiresAt: expiry is for plain queues; 'events' is a topic/);
    expect(topic.errors![0]!.path).toBe('expiresAt');
    const batch = expectProblem(await send('/v1/topics/events/messages/batch', { messages: [{ data: {} }, { data: {}, priority: 2 }] }), 400, 'invalid_request', /priority is for plain queues/);
    expect(batch.errors![0]!.path).toBe('messages.1.priority');
    expect(batch.detail).toMatch(/^messages\.1\.priority: /);
    // Every refusal in a batch names the message in its detail: the whole batch is refused for it.
    for (const [item, detail] of [
      [{ data: {}, priority: 500 }, /^invalid message at messages\.1: at most 100$/],
      [{ data: {}, expiresAt: Date.now() - 1 }, /^messages\.1\.expiresAt: .* has passed/],
      [{ data: {}, ttl: '-5m' }, /^messages\.1\.ttl: '-5m' is not a duration/],
      [{ data: {}, ttl: '5m', expiresAt: Date.now() + 60_000 }, /^messages\.1\.ttl: give expiresAt or ttl, not both/],
      [{ data: {}, delay: 'soon' }, /^delay at messages\.1 'soon' is not a duration/],
    ] as const) {
      expectProblem(await send('/v1/queues/audits/messages/batch', { messages: [{ data: {} }, item] }), 400, 'invalid_request', detail);
    }
    expect(await depth('audits')).toBe(0);
    expect(await depth('provisionings')).toBe(0);
    expect(await depth('events/read-models')).toBe(0);
  });

  it('refuses a priority out of range or not an integer, an expiry that has passed or comes before deliverAt, and both expiresAt and ttl', async () => {
    const q = '/v1/queues/audits/messages';
    expect(expectProblem(await send(q, { data: {}, priority: 101 }), 400, 'invalid_request', /at most 100/).errors![0]!.path).toBe('priority');
    expectProblem(await send(q, { data: {}, priority: -101 }), 400, 'invalid_request', /at least -100/);
    expectProblem(await send(q, { data: {}, priority: 1.5 }), 400, 'invalid_request', /an integer from -100 to 100/);
    expectProblem(await send(q, { data: {}, priority: '5' }), 400, 'invalid_request', /an integer from -100 to 100/);
    expectProblem(await send(q, { data: {}, expiresAt: Date.now() - 1 }), 400, 'invalid_request', /^expiresAt: .* has passed/);
    expectProblem(await send(q, { data: {}, expiresAt: 'tomorrow' }), 400, 'invalid_request', /ISO 8601 time .* or epoch milliseconds/);
    for (const expiresAt of [1e308, 2 ** 53, -5, 1.5, '2026-12-31T23:59:60Z', '10000-01-01T00:00:00Z']) {
      expect(expectProblem(await send(q, { data: {}, expiresAt }), 400, 'invalid_request', /epoch milliseconds \(a whole number, 0 or more\)$/).errors, String(expiresAt)).toHaveLength(1);
    }
    expectProblem(await send(q, { data: {}, deliverAt: Date.now() + 120_000, expiresAt: Date.now() + 60_000 }), 400, 'invalid_request', /^expiresAt: is not after deliverAt/);
    expectProblem(await send(q, { data: {}, ttl: '5m', expiresAt: Date.now() + 60_000 }), 400, 'invalid_request', /^ttl: give expiresAt or ttl, not both/);
    expectProblem(await send(q, { data: {}, ttl: 300 }), 400, 'invalid_request', /a duration/);
    expectProblem(await send(q, { data: {}, ttl: 'soon' }), 400, 'invalid_request', /^ttl: 'soon' is not a duration/);
    // A ttl is capped like every configured duration: 100 years.
    const long = expectProblem(await send(q, { data: {}, ttl: '36501d' }), 400, 'invalid_request', "ttl: '36501d' is longer than 36500d, the longest duration taken");
    expect(long.errors).toEqual([{ path: 'ttl', message: "'36501d' is longer than 36500d, the longest duration taken" }]);
    expectProblem(await send('/v1/queues/audits/messages/batch', { messages: [{ data: {} }, { data: {}, ttl: '99999999999d' }] }), 400, 'invalid_request', /^messages\.1\.ttl: '99999999999d' is longer than 36500d/);
    expect(await depth('audits')).toBe(0);
    expect((await send(q, { id: 'century', data: {}, ttl: '36500d' })).statusCode).toBe(202);
    expect(Date.parse((await get('century')).expiresAt!)).toBeGreaterThanOrEqual(Date.now() + 36_499 * 86_400_000);
  });
});
