import { afterAll, beforeAll, it } from 'vitest';
import { completionTokens } from '../../src/delivery/completion.js';
import { newMessage } from '../../src/domain/message.js';
import { openApi, type Api } from '../support/api.js';

let api: Api;
beforeAll(async () => {
  api = await openApi({
    server: { apiKeys: [{ key: 'op', role: 'operator' }, { key: 'view', role: 'viewer' }, { key: 'pa', role: 'producer', channels: ['jobs'] }, { key: 'pb', role: 'producer', channels: ['audits', 'other'] }] },
    endpoints: { sink: { url: 'http://127.0.0.1:9' } },
    queues: { jobs: { endpoint: 'sink', asyncTimeout: '1h' }, audits: { endpoint: 'sink' }, f: { preset: 'aggregate-fifo', endpoint: 'sink' } },
    topics: { events: { subscriptions: { model: { preset: 'domain-events', endpoint: 'sink', batchSize: 3, asyncTimeout: '1h', filter: { types: ['Order*', '*'] } }, plain: { endpoint: 'sink' } } }, other: { subscriptions: { s: { endpoint: 'sink' } } } },
  } as never);
});
afterAll(() => api.close());
const req = async (method: string, url: string, body?: unknown, key = 'op', raw?: string) => {
  const r = await api.app.inject({ method: method as 'POST', url, ...(body !== undefined || raw !== undefined ? { payload: raw ?? JSON.stringify(body) } : {}), headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` } });
  console.log(method, url.slice(0, 80), (raw ?? JSON.stringify(body) ?? '').slice(0, 100), key, '=>', r.statusCode, r.body.slice(0, 300));
  return r;
};
it('probe', async () => {
  const q = '/v1/queues/audits/messages';
  for (const b of [
    { data: {}, priority: 1e308 }, { data: {}, priority: -0 }, { data: {}, priority: 2 ** 53 }, { data: {}, priority: 'NaN' }, { data: {}, priority: null },
    { data: {}, expiresAt: 1e308 }, { data: {}, expiresAt: 2 ** 53 }, { data: {}, expiresAt: '0000-01-01T00:00:00Z' }, { data: {}, expiresAt: '9999-12-31T23:59:59+23:59' },
    { data: {}, expiresAt: 8.64e15 }, { data: {}, expiresAt: 8.64e15 + 1 }, { data: {}, expiresAt: '2026-12-31T23:59:60Z' }, { data: {}, expiresAt: -0 }, { data: {}, expiresAt: null },
    { data: {}, ttl: '0s' }, { data: {}, ttl: '-5m' }, { data: {}, ttl: '999999d' }, { data: {}, ttl: '9'.repeat(400) + 'd' }, { data: {}, ttl: '0.4ms' }, { data: {}, ttl: ' 5m ' }, { data: {}, ttl: '' },
    { data: {}, delay: '9'.repeat(400) + 'd' }, { data: {}, deliverAt: 8.64e15, ttl: '1ms' }, { data: {}, deliverAt: 8.64e15 - 5, ttl: '1s' },
    { data: {}, deliverAt: '0000-01-01T00:00:00Z', ttl: '1m' },
  ]) await req('POST', q, b);
  await req('POST', '/v1/queues/audits/messages/batch', { messages: [{ data: {} }, { data: {}, priority: 500 }, { data: {}, ttl: 'x' }] });
  await req('POST', '/v1/queues/audits/messages/batch', { messages: [{ data: {} }, 5, null] });
  await req('POST', '/v1/queues/f/messages', { key: 'k', data: {}, deliverAt: '0000-01-01T00:00:00Z' });
  await req('POST', '/v1/queues/f/messages', { key: 'k', data: {}, delay: '-5s' });
  await req('POST', '/v1/queues/f/messages', { key: 'k', data: {}, delay: '1e5s' });
  await req('POST', '/v1/queues/f/messages', { key: 'k', data: {}, deliverAt: 1e308 });
  await req('POST', '/v1/queues/f/messages', { key: 'k', data: {}, deliverAt: -1 });
  await req('POST', '/v1/queues/f/messages', { key: 'k', data: {}, deliverAt: 'now' });
  await req('POST', '/v1/queues/f/messages', { key: 'k', data: {}, delay: '5s', deliverAt: Date.now() });
  await req('POST', '/v1/queues/f/messages', { key: 'k', data: {}, delay: 5 });

  // Seek
  const S = '/v1/topics/events/subscriptions/model/seek';
  await api.store.send('events', [newMessage({ id: 'e1', type: 'OrderPlaced', data: {} }), newMessage({ id: 'e2', type: 'X', data: {} })]);
  for (const b of [{ sequence: 0 }, { sequence: -1 }, { sequence: 1e308 }, { sequence: 2 ** 53 }, { sequence: 2 ** 53 - 1 }, { sequence: 3 }, { sequence: 4 }, { sequence: 'NaN' }, { sequence: null }, { time: null },
    { time: '0000-01-01T00:00:00Z' }, { time: '9999-12-31T23:59:59+23:59' }, { time: '2999-01-01T00:00:00Z' }, { time: '2026-12-31T23:59:60Z' }, { sequence: 1, time: null }, { sequence: 1 }, { sequence: 3 }, { sequence: 1 }])
    await req('POST', S, b);
  await req('POST', S, undefined, 'op', 'not json');
  await req('POST', S, undefined, 'op', 'null');
  await req('POST', '/v1/topics/events/subscriptions/model/seek', { sequence: 1 }, 'pa');
  await req('POST', '/v1/topics/events/subscriptions/model/seek', { sequence: 1 }, 'view');
  await req('POST', '/v1/topics/events/subscriptions/plain/seek', { sequence: 1 });
  await req('POST', '/v1/topics/%2e%2e/subscriptions/plain/seek', { sequence: 1 });
  await req('POST', '/v1/topics/events/subscriptions/model%2Fx/seek', { sequence: 1 });
  await req('POST', '/v1/topics/__proto__/subscriptions/constructor/seek', { sequence: 1 });
  await req('POST', '/v1/topics/events/subscriptions/model', {});
  await req('GET', '/v1/topics/events/subscriptions/model');
  await req('POST', '/v1/topics/events/subscriptions/model/pause', {});
  await req('POST', S, { sequence: 1 });
  await req('GET', '/v1/topics/events/subscriptions/model');

  // Complete
  await api.store.send('jobs', [newMessage({ id: 'j1', type: 'x', data: {} })]);
  const claims = await api.store.claim({ target: 'jobs', limit: 1, owner: 't', leaseMs: 30_000, batchSize: 1 });
  const leases = claims.flatMap((c) => c.deliveries.map((d) => ({ deliveryId: d.deliveryId, epoch: d.epoch })));
  await api.store.defer(leases, Date.now() + 3_600_000, Date.now() + 3_630_000);
  const token = completionTokens(await api.store.completionKey()).mint(leases[0]!);
  console.log('token', token);
  const C = (t: string) => `/v1/deliveries/${t}/complete`;
  for (const t of [token.slice(0, -1), 'ü'.repeat(10), encodeURIComponent('ü'.repeat(10)), '..%2F..%2Fhealthz', '%2e%2e', 'a.b.c', 'a..', '...', '1.1e308.x', `${token.split('.')[0]}.-1.${token.split('.')[2]}`, `${token.split('.')[0]}.01.${token.split('.')[2]}`, 'x'.repeat(10000), '%00', '%ZZ'])
    await req('POST', C(t), { outcome: 'delivered' });
  for (const b of [{ outcome: 'retry', retryAfter: 1e308 }, { outcome: 'retry', retryAfter: -5 }, { outcome: 'retry', retryAfter: 86_401 }, { outcome: 'retry', reason: 'x'.repeat(1_000_000) }, { outcome: 'delivered', appliedThrough: 'zzz' }, { outcome: 'delivered', appliedThrough: '' }, null, [], 'x'])
    await req('POST', C(token), b);
  await req('POST', C(token), { outcome: 'delivered' }, 'pb');
  await req('POST', C(token), { outcome: 'delivered' }, 'view');
  await req('POST', C(token), { outcome: 'delivered' }, 'pa');
  await req('POST', C(token), { outcome: 'delivered' }, 'pa');
  await req('POST', C(token), { outcome: 'retry' }, 'pa');
  await req('GET', '/v1/channels');
  await req('GET', '/v1/messages/j1');
});
