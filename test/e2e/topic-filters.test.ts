import { describe, expect, it } from 'vitest';
import { get, post, startOffload, testReceiver } from '../support/offload.js';

describe('subscription filters', () => {
  it('delivers each subscription only the events its filter matches, in order, with gap-free lane positions', async () => {
    const receiver = await testReceiver();
    const offload = await startOffload({
      endpoints: { sink: { url: receiver.url } },
      topics: {
        shop: {
          subscriptions: {
            orders: { endpoint: 'sink', path: '/orders', filter: { types: ['OrderPlaced', 'Order*'] } },
            eu: { endpoint: 'sink', path: '/eu', ordering: 'key', filter: { types: ['*'], keys: ['eu-*'] } },
          },
        },
      },
    });
    // Paused while publishing, so lag shows what each subscription holds.
    await post(offload.url, '/v1/topics/shop/pause', undefined);
    const events = [
      { id: 'e1', type: 'OrderPlaced', key: 'eu-1' },
      { id: 'e2', type: 'UserCreated', key: 'eu-1' },
      { id: 'e3', type: 'OrderShipped', key: 'us-1' },
      { id: 'e4', type: 'UserCreated', key: 'us-1' },
      { id: 'e5', type: 'OrderPaid', key: 'eu-1' },
      { id: 'e6', type: 'UserDeleted' },
    ];
    const res = await post(offload.url, '/v1/topics/shop/messages/batch', { messages: events.map((e) => ({ ...e, data: {} })) });
    expect(res.status).toBe(202);

    const channels = (await get(offload.url, '/v1/channels')).body.items as Array<{ name: string; lag?: number; filter?: unknown }>;
    expect(channels.find((c) => c.name === 'shop/orders')).toMatchObject({ lag: 3, filter: { types: ['OrderPlaced', 'Order*'] } });
    expect(channels.find((c) => c.name === 'shop/eu')).toMatchObject({ lag: 3, filter: { types: ['*'], keys: ['eu-*'] } });
    expect((await get(offload.url, '/v1/topics/shop/subscriptions/eu')).body).toMatchObject({ filter: { types: ['*'], keys: ['eu-*'] } });

    await post(offload.url, '/v1/topics/shop/resume', undefined);
    await receiver.waitFor((r) => r.acceptedIds('/orders').length === 3 && r.acceptedIds('/eu').length === 3, { timeoutMs: 10_000, description: 'both subscriptions delivered' });
    // Another event that neither takes, then one both take: nothing else arrives.
    await post(offload.url, '/v1/topics/shop/messages', { id: 'e7', type: 'UserCreated', key: 'us-2', data: {} });
    await post(offload.url, '/v1/topics/shop/messages', { id: 'e8', type: 'OrderPlaced', key: 'eu-2', data: {} });
    await receiver.waitFor((r) => r.acceptedIds('/orders').includes('e8') && r.acceptedIds('/eu').includes('e8'), { timeoutMs: 10_000 });

    expect(receiver.acceptedIds('/orders')).toEqual(['e1', 'e3', 'e5', 'e8']);
    expect(receiver.acceptedIds('/eu').sort()).toEqual(['e1', 'e2', 'e5', 'e8']);
    const lanes = (path: string) =>
      receiver.records().filter((r) => r.path === path && r.status === 200).map((r) => [r.events[0]!.id, r.headers['offload-lane'], r.headers['offload-lane-position'], r.headers['offload-lane-previous']]);
    expect(lanes('/orders')).toEqual([['e1', '', '1', undefined], ['e3', '', '2', 'e1'], ['e5', '', '3', 'e3'], ['e8', '', '4', 'e5']]);
    expect(lanes('/eu').filter(([, lane]) => lane === 'eu-1')).toEqual([['e1', 'eu-1', '1', undefined], ['e2', 'eu-1', '2', 'e1'], ['e5', 'eu-1', '3', 'e2']]);
    expect((await get(offload.url, '/v1/messages/e7')).body.deliveries).toEqual([]);
  });
});
