import { afterAll, beforeAll, it } from 'vitest';
import { openApi, type Api } from '../support/api.js';

let api: Api;
beforeAll(async () => {
  api = await openApi({ endpoints: { sink: { url: 'http://127.0.0.1:9' } }, queues: { q: { endpoint: 'sink', asyncTimeout: '1m' } }, topics: { events: { retention: '0s', subscriptions: { s: { endpoint: 'sink', ordering: 'key' } } } } } as never);
});
afterAll(() => api.close());
const req = async (method: string, url: string, body?: unknown, ct = 'application/json') => {
  const r = await api.app.inject({ method: method as 'POST', url, ...(body !== undefined ? { payload: typeof body === 'string' ? body : JSON.stringify(body), headers: { 'content-type': ct } } : {}) });
  console.log(method, url.slice(0, 80), (JSON.stringify(body) ?? '').slice(0, 100), '=>', r.statusCode, r.body.slice(0, 300));
  return r;
};
it('probe', async () => {
  await req('POST', '/v1/topics/events/subscriptions/s/seek?key=a', { sequence: 1 });
  await req('POST', '/v1/topics/events/subscriptions/s/seek', 'sequence=1', 'application/x-www-form-urlencoded');
  await req('POST', '/v1/topics/events/subscriptions/s/seek', '{"sequence":1,"sequence":2}');
  await req('POST', '/v1/topics/events/subscriptions/s/seek', '{"sequence":1e999}');
  await req('POST', '/v1/topics/events/subscriptions/s/seek', '{"sequence":1.0}');
  await req('GET', '/v1/topics/events/subscriptions/s/seek');
  await req('GET', '/v1/deliveries/1.1.x/complete');
  await req('POST', '/v1/deliveries/1.1.x/complete?x=1', { outcome: 'delivered' });
  await req('POST', '/v1/topics/events/messages', { id: 'a1', key: 'k', data: {} });
  await req('POST', '/v1/topics/events/messages', { id: 'a2', key: 'k', data: {} });
  console.log('swept', await api.store.sweep(Date.now() + 1000, {} as never).catch((e) => String(e)));
  await req('GET', '/v1/channels');
  await req('POST', '/v1/topics/events/subscriptions/s/seek', { sequence: 1 });
  await req('POST', '/v1/topics/events/subscriptions/s/seek', { time: '2000-01-01T00:00:00Z' });
});
