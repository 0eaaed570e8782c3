import { describe, expect, it } from 'vitest';
import { get, post, startOffload, testReceiver } from '../support/offload.js';

const batch = (prefix: string, n: number, type = 'A') => ({ messages: Array.from({ length: n }, (_, i) => ({ id: `${prefix}-${i}`, type, data: {} })) });

describe('backpressure (maxDepth) together with the other features', () => {
  it('counts only the events a filtered subscription takes', async () => {
    const receiver = await testReceiver();
    const offload = await startOffload({
      endpoints: { sink: { url: receiver.url } },
      topics: { orders: { maxDepth: 3, subscriptions: { placed: { endpoint: 'sink', path: '/placed', filter: { types: ['A'] } } } } },
    });
    await post(offload.url, '/v1/topics/orders/subscriptions/placed/pause', undefined);
    // Twenty events the subscription does not take: not in its depth, so nothing is refused.
    expect((await post(offload.url, '/v1/topics/orders/messages/batch', batch('b', 20, 'B'))).status).toBe(202);
    expect((await post(offload.url, '/v1/topics/orders/messages/batch', batch('a', 3))).status).toBe(202);
    await expect.poll(async () => (await post(offload.url, '/v1/topics/orders/messages', { id: 'a-more', type: 'A', data: {} })).status).toBe(429);
    expect((await get(offload.url, '/v1/topics/orders/subscriptions/placed')).body.depth).toBe(3);
  });

  it('counts the events a seek back replays: producers are pushed back until the replay drains', async () => {
    const receiver = await testReceiver();
    const offload = await startOffload({
      endpoints: { sink: { url: receiver.url } },
      topics: { orders: { maxDepth: 5, subscriptions: { ledger: { endpoint: 'sink', path: '/ledger' } } } },
    });
    expect((await post(offload.url, '/v1/topics/orders/messages/batch', batch('e', 5))).status).toBe(202);
    await receiver.waitFor((r) => r.acceptedIds('/ledger').length === 5, { description: 'the five events delivered' });
    await post(offload.url, '/v1/topics/orders/subscriptions/ledger/pause', undefined);
    expect((await post(offload.url, '/v1/topics/orders/subscriptions/ledger/seek', { sequence: 1 })).status).toBe(200);
    await expect.poll(async () => (await post(offload.url, '/v1/topics/orders/messages', { id: 'late', data: {} })).status).toBe(429);
    await post(offload.url, '/v1/topics/orders/subscriptions/ledger/resume', undefined);
    await receiver.waitFor((r) => r.records().length === 10, { description: 'the replay delivered' });
    await expect.poll(async () => (await post(offload.url, '/v1/topics/orders/messages', { id: 'late', data: {} })).status).toBe(202);
  });

  it('never refuses a schedule tick: it is stored over maxDepth, like an outbox write, and counts toward the backlog', async () => {
    const receiver = await testReceiver();
    const offload = await startOffload({
      endpoints: { sink: { url: receiver.url } },
      queues: { reports: { endpoint: 'sink', path: '/reports', maxDepth: 1 } },
      schedules: { every: { cron: '* * * * * *', queue: 'reports', message: { type: 'ReportDue' } } },
    });
    const depth = async () => (await get(offload.url, '/v1/channels')).body.items.find((c: { name: string }) => c.name === 'reports').depth;
    // No tick lands between the queue's pause and the manual send: the schedule waits, and a tick
    // sent before it paused is delivered first.
    expect((await post(offload.url, '/v1/schedules/every/pause', undefined)).status).toBe(200);
    await expect.poll(depth, { timeout: 5_000 }).toBe(0);
    await post(offload.url, '/v1/queues/reports/pause', undefined);
    expect((await post(offload.url, '/v1/queues/reports/messages', { id: 'manual', data: {} })).status).toBe(202);
    await expect.poll(async () => (await post(offload.url, '/v1/queues/reports/messages', { id: 'refused', data: {} })).status).toBe(429);
    expect((await post(offload.url, '/v1/schedules/every/resume', undefined)).status).toBe(200);
    await expect.poll(depth, { timeout: 5_000 }).toBeGreaterThanOrEqual(2);
    const page = (await get(offload.url, '/v1/messages?channel=reports')).body.items as Array<{ id: string }>;
    expect(page.some((m) => m.id.startsWith('schedule:every:'))).toBe(true);
  });
});
