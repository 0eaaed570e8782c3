import { describe, expect, it } from 'vitest';
import { get, post, startOffload, testReceiver } from '../support/offload.js';

describe('notifications', () => {
  it('a message dead-lettered again after a redrive, or a key parked again after a retry, is notified again', { timeout: 30_000 }, async () => {
    const receiver = await testReceiver({ decide: (request) => (request.path === '/jobs' || request.path === '/keys' ? { kind: 'status', status: 422, body: 'bad' } : undefined) });
    const offload = await startOffload({
      endpoints: { sink: { url: receiver.url } },
      queues: {
        jobs: { endpoint: 'sink', path: '/jobs', onDeadLettered: { endpoint: 'sink', path: '/dead' } },
        keys: { endpoint: 'sink', path: '/keys', kind: 'fifo', onStalled: { endpoint: 'sink', path: '/parked' } },
      },
    });
    const notified = (path: string) => receiver.records().filter((r) => r.path === path).length;
    expect((await post(offload.url, '/v1/queues/jobs/messages', { id: 'j1', data: {} })).status).toBe(202);
    expect((await post(offload.url, '/v1/queues/keys/messages', { id: 'k1', key: 'tenant-1', data: {} })).status).toBe(202);
    await receiver.waitFor(() => notified('/dead') === 1 && notified('/parked') === 1, { timeoutMs: 10_000, description: 'first notifications' });
    expect((await post(offload.url, '/v1/queues/jobs/deadletters/redrive', undefined)).body).toEqual({ redriven: 1 });
    expect((await post(offload.url, '/v1/queues/keys/parked/tenant-1/retry', undefined)).status).toBe(200);
    await receiver.waitFor(() => notified('/dead') === 2 && notified('/parked') === 2, { timeoutMs: 10_000, description: 'second notifications' });
    const ids = new Set(receiver.records().filter((r) => r.path === '/dead' || r.path === '/parked').map((r) => r.events[0]!.id));
    expect(ids.size).toBe(4);
    expect((await get(offload.url, '/v1/messages/j1')).body.status).toBe('deadlettered');
  });
});
