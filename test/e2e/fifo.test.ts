import { describe, expect, it } from 'vitest';
import { byProbability, checkHistory, createFaultSwitch, firstOf } from '../../src/testing/index.js';
import { get, post, startOffload, testReceiver } from '../support/offload.js';

describe('per-aggregate fifo queues', () => {

  it('500 keys × 40 messages through random latency and 10% 500s: in order per key, never two of a key at once, all delivered', async () => {
    const receiver = await testReceiver({
      exclusive: 'key',
      latencyMs: { min: 0, max: 20 },
      decide: byProbability({ seed: 11, faults: [{ probability: 0.1, fault: { kind: 'status', status: 500 } }] }),
    });
    const offload = await startOffload({
      endpoints: { sink: { url: receiver.url } },
      queues: { provisionings: { preset: 'aggregate-fifo', endpoint: 'sink', path: '/p', concurrency: 64, minBackoff: '5ms', maxBackoff: '50ms', maxAttempts: 50 } },
    });
    const accepted: Array<{ id: string; channel: string; key: string; order: number }> = [];
    // Round-robin over keys so every batch mixes keys; each key's messages go out in order.
    for (let round = 0; round < 40; round += 2) {
      for (let block = 0; block < 500; block += 250) {
        const messages = [];
        for (let r = round; r < round + 2; r++) for (let k = block; k < block + 250; k++) messages.push({ id: `k${k}-${r}`, key: `tenant-${k}`, data: { step: r } });
        const res = await post(offload.url, '/v1/queues/provisionings/messages/batch', { messages });
        expect(res.status).toBe(202);
        messages.forEach((m) => accepted.push({ id: m.id, channel: 'provisionings', key: m.key, order: m.data.step }));
      }
    }
    await receiver.waitFor((r) => r.acceptCounts('/p').size === 20_000, { timeoutMs: 120_000, description: 'all 20,000 delivered' });
    const report = checkHistory({ accepted, targets: [{ target: '/p', channel: 'provisionings', ordering: 'key' }], deliveries: receiver.deliveries() });
    expect(report.ok, report.summary()).toBe(true);
    expect(receiver.overlaps()).toEqual([]);
    expect(receiver.records().filter((r) => r.status === 500).length).toBeGreaterThan(1_000);
  });

  it('parks a key answered 400 while every other key finishes; retry after the fix delivers it in order', async () => {
    const broken = createFaultSwitch({ kind: 'status', status: 400, body: 'tenant quota missing' }, { keys: ['tenant-bad'] });
    const receiver = await testReceiver({ exclusive: 'key', decide: firstOf(broken.decide) });
    const offload = await startOffload({
      endpoints: { sink: { url: receiver.url } },
      queues: { provisionings: { preset: 'aggregate-fifo', endpoint: 'sink', path: '/p', minBackoff: '5ms', maxBackoff: '20ms', onStalled: { endpoint: 'sink', path: '/alerts' } } },
    });
    const messages = ['tenant-bad', 'tenant-a', 'tenant-b'].flatMap((key) => [1, 2, 3].map((step) => ({ id: `${key}-${step}`, key, data: { step } })));
    expect((await post(offload.url, '/v1/queues/provisionings/messages/batch', { messages })).status).toBe(202);
    await receiver.waitFor((r) => r.acceptCounts('/p').size === 6 && r.acceptCounts('/alerts').size === 1, { timeoutMs: 10_000 });
    const parked = await get(offload.url, '/v1/queues/provisionings/parked');
    expect(parked.body.items).toHaveLength(1);
    expect(parked.body.items[0]).toMatchObject({ key: 'tenant-bad', state: 'parked', reason: 'permanent failure: HTTP 400', pending: 3, head: { id: 'tenant-bad-1', status: 'parked' } });
    expect((await get(offload.url, '/v1/messages/tenant-bad-2')).body.status).toBe('queued');
    expect(receiver.records().filter((r) => r.events[0]?.key === 'tenant-bad')).toHaveLength(1);
    const channels = (await get(offload.url, '/v1/channels')).body.items;
    expect(channels.find((c: { name: string }) => c.name === 'provisionings')).toMatchObject({ parkedKeys: 1 });

    broken.release();
    expect((await post(offload.url, '/v1/queues/provisionings/parked/tenant-bad/retry', undefined)).status).toBe(200);
    await receiver.waitFor((r) => r.acceptCounts('/p').size === 9, { timeoutMs: 10_000 });
    expect(receiver.acceptedIds('/p').filter((id) => id.startsWith('tenant-bad'))).toEqual(['tenant-bad-1', 'tenant-bad-2', 'tenant-bad-3']);
    await expect.poll(async () => (await get(offload.url, '/v1/queues/provisionings/parked')).body.items, { timeout: 5_000 }).toEqual([]);
    expect(receiver.overlaps()).toEqual([]);
  });

  it('onExhausted deadletter: the failing message is dead-lettered, its key goes on, redrive puts it back ahead of the key’s undelivered messages', async () => {
    const broken = createFaultSwitch({ kind: 'status', status: 400 }, { ids: ['u-2'] });
    const receiver = await testReceiver({ exclusive: 'key', decide: firstOf(broken.decide) });
    const offload = await startOffload({
      endpoints: { sink: { url: receiver.url } },
      queues: { usages: { preset: 'aggregate-fifo', endpoint: 'sink', path: '/u', onExhausted: 'deadletter' } },
    });
    for (const id of ['u-1', 'u-2', 'u-3']) await post(offload.url, '/v1/queues/usages/messages', { id, key: 'acct', data: {} });
    await receiver.waitFor((r) => r.acceptedIds('/u').includes('u-3'), { timeoutMs: 10_000 });
    expect(receiver.acceptedIds('/u')).toEqual(['u-1', 'u-3']);
    await expect.poll(async () => (await get(offload.url, '/v1/queues/usages/deadletters')).body.items.map((d: { id: string }) => d.id), { timeout: 5_000 }).toEqual(['u-2']);
    await post(offload.url, '/v1/queues/usages/pause', undefined);
    for (const id of ['u-4', 'u-5']) await post(offload.url, '/v1/queues/usages/messages', { id, key: 'acct', data: {} });
    broken.release();
    expect((await post(offload.url, '/v1/queues/usages/deadletters/redrive', { ids: ['u-2'] })).body).toEqual({ redriven: 1, notFound: [] });
    await post(offload.url, '/v1/queues/usages/resume', undefined);
    await receiver.waitFor((r) => r.acceptCounts('/u').size === 5, { timeoutMs: 10_000 });
    expect(receiver.acceptedIds('/u')).toEqual(['u-1', 'u-3', 'u-2', 'u-4', 'u-5']);
  });

  it('delays a key behind its delayed head: the head waits for its time, later messages of the key after it, other keys at once', async () => {
    const receiver = await testReceiver({ exclusive: 'key' });
    const offload = await startOffload({ endpoints: { sink: { url: receiver.url } }, queues: { f: { kind: 'fifo', endpoint: 'sink', path: '/f' } } });
    const sent = await post(offload.url, '/v1/queues/f/messages/batch', {
      messages: [{ id: 'late-1', key: 'k', delay: '1s', data: {} }, { id: 'late-2', key: 'k', data: {} }, { id: 'other', key: 'o', data: {} }],
    });
    expect(sent.body.items.map((r: { status: string }) => r.status)).toEqual(['scheduled', 'queued', 'queued']);
    const { deliverAt } = (await get(offload.url, '/v1/messages/late-1')).body;
    await receiver.waitFor((r) => r.acceptedIds('/f').includes('other'), { timeoutMs: 5_000 });
    expect(receiver.acceptedIds('/f')).toEqual(['other']);
    await receiver.waitFor((r) => r.acceptedIds('/f').includes('late-2'), { timeoutMs: 10_000 });
    expect(receiver.acceptedIds('/f')).toEqual(['other', 'late-1', 'late-2']);
    const first = receiver.records().find((r) => r.events[0]?.id === 'late-1')!;
    expect(first.startedAt).toBeGreaterThanOrEqual(Date.parse(deliverAt));
  });

  it('refuses a message without key on a fifo queue', async () => {
    const receiver = await testReceiver();
    const offload = await startOffload({ endpoints: { sink: { url: receiver.url } }, queues: { f: { kind: 'fifo', endpoint: 'sink' } } });
    const res = await post(offload.url, '/v1/queues/f/messages', { data: {} });
    expect(res.status).toBe(400);
    expect(res.body.detail).toContain('needs a key');
  });
});
