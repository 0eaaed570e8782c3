import { afterAll, beforeAll, it } from 'vitest';
import { openApi, type Api } from '../support/api.js';

let api: Api;
beforeAll(async () => {
  api = await openApi({ endpoints: { sink: { url: 'http://127.0.0.1:9' } }, queues: { offers: { endpoint: 'sink', ttl: '5m' } } } as never);
});
afterAll(() => api.close());
const req = async (method: string, url: string, body?: unknown) => {
  const r = await api.app.inject({ method: method as 'POST', url, ...(body !== undefined ? { payload: JSON.stringify(body), headers: { 'content-type': 'application/json' } } : {}) });
  console.log(method, url.slice(0, 80), (JSON.stringify(body) ?? '').slice(0, 100), '=>', r.statusCode, r.body.slice(0, 400));
  return r;
};
it('probe', async () => {
  await req('POST', '/v1/queues/offers/messages', { id: 'o1', data: {}, deliverAt: 8_640_000_000_000_000 });
  await req('GET', '/v1/messages/o1');
  await req('POST', '/v1/queues/offers/messages', { id: 'o2', data: {}, delay: '99999999d' });
  await req('GET', '/v1/messages/o2');
});
