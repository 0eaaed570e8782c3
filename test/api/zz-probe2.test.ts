import { afterAll, beforeAll, it } from 'vitest';
import { newMessage } from '../../src/domain/message.js';
import { openApi, type Api } from '../support/api.js';

let api: Api;
beforeAll(async () => {
  api = await openApi({
    endpoints: { sink: { url: 'http://127.0.0.1:9' } },
    queues: { audits: { endpoint: 'sink' }, big: { endpoint: 'sink', ttl: '100000000000d' } },
    topics: { events: { subscriptions: { model: { endpoint: 'sink', ordering: 'key', filter: { types: ['Order*'], keys: ['eu-*'] } } } } },
  } as never);
});
afterAll(() => api.close());
const req = async (method: string, url: string, body?: unknown) => {
  const r = await api.app.inject({ method: method as 'POST', url, ...(body !== undefined ? { payload: JSON.stringify(body), headers: { 'content-type': 'application/json' } } : {}) });
  console.log(method, url.slice(0, 80), (JSON.stringify(body) ?? '').slice(0, 100), '=>', r.statusCode, r.body.slice(0, 600));
  return r;
};
it('probe', async () => {
  await req('POST', '/v1/queues/big/messages', { id: 'big1', data: {} });
  await req('GET', '/v1/messages/big1');
  await req('GET', '/v1/messages?channel=big');
  await req('POST', '/v1/queues/audits/messages', { id: 'x1', data: {}, expiresAt: Date.now() + 30 });
  await new Promise((r) => setTimeout(r, 60));
  console.log(await api.store.expire(10));
  await req('GET', '/v1/queues/audits/deadletters');
  await req('GET', '/v1/queues/audits/deadletters?reason=expired');
  await req('GET', '/v1/messages/x1');
  await req('POST', '/v1/queues/audits/deadletters/redrive', { ids: ['x1'] });
  await req('GET', '/v1/messages/x1');
  await req('GET', '/v1/channels');
  await api.store.send('events', [newMessage({ id: 'e1', type: 'OrderPlaced', key: 'eu-1', data: {} }), newMessage({ id: 'e2', type: 'OrderPlaced', key: 'us-1', data: {} }), newMessage({ id: 'e3', type: 'OrderPaid', key: 'eu-2', data: {} })]);
  await req('GET', '/v1/topics/events/subscriptions/model');
  await req('POST', '/v1/topics/events/subscriptions/model/seek', { sequence: 4 });
  await req('GET', '/v1/topics/events/subscriptions/model');
  await req('GET', '/v1/topics/events/subscriptions/model/skipped');
  await req('POST', '/v1/topics/events/subscriptions/model/seek', { sequence: 1 });
  await req('GET', '/v1/topics/events/subscriptions/model');
  await req('GET', '/v1/topics/events/subscriptions/model/skipped');
  await req('GET', '/v1/messages/e2');
  await req('GET', '/v1/messages/e1');
});
