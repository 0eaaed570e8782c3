import { describe, expect, it } from 'vitest';
import { createClient } from '../../src/client/index.js';
import { firstAttempts } from '../../src/testing/index.js';
import { post, startOffload, testReceiver } from '../support/offload.js';

describe('flow control together with drain, priority and fifo delays', () => {
  it('a drain keeps the endpoint rate limit, and the higher priority goes first while permits are scarce', async () => {
    const receiver = await testReceiver();
    const offload = await startOffload({
      testing: { drain: true },
      endpoints: { sink: { url: receiver.url, rateLimit: { perSecond: 10, burst: 1 } } },
      queues: { emails: { endpoint: 'sink', path: '/emails', concurrency: 4 } },
    });
    const client = createClient({ url: offload.url });
    await post(offload.url, '/v1/queues/emails/pause', undefined);
    await client.sendBatch('emails', Array.from({ length: 5 }, (_, i) => ({ id: `bulk-${i}`, data: {} })));
    await client.sendBatch('emails', [{ id: 'urgent-1', data: {}, priority: 10 }, { id: 'urgent-2', data: {}, priority: 10 }]);
    await post(offload.url, '/v1/queues/emails/resume', undefined);

    expect(await client.drain({ timeout: 20_000 })).toMatchObject({ complete: true, undelivered: [] });
    const calls = receiver.records();
    expect(calls.map((r) => r.events[0]!.id)).toEqual(['urgent-1', 'urgent-2', 'bulk-0', 'bulk-1', 'bulk-2', 'bulk-3', 'bulk-4']);
    // 7 calls with a burst of 1 at 10/s: the last 6 permits after the first, 600 ms or more (permits
    // are paced at 95% of the rate). The span is read at the receiver, and on a busy host the first
    // call can arrive late while the others do not: one permit of slack (without the limit the 7
    // calls would arrive within a few ms).
    const span = calls.at(-1)!.startedAt - calls[0]!.startedAt;
    expect(span).toBeGreaterThanOrEqual(5 * (1000 / 10));
  });

  it('a drain leaves a fifo key whose head is scheduled (deliverAt) waiting, with skipBackoff too, and delivers the other keys', async () => {
    const receiver = await testReceiver();
    const offload = await startOffload({
      testing: { drain: true },
      endpoints: { sink: { url: receiver.url } },
      queues: { steps: { kind: 'fifo', endpoint: 'sink', path: '/steps' } },
    });
    const client = createClient({ url: offload.url });
    const later = new Date(Date.now() + 3_600_000).toISOString();
    await client.sendBatch('steps', [{ id: 'a1', key: 'a', data: {}, deliverAt: later }, { id: 'a2', key: 'a', data: {} }, { id: 'b1', key: 'b', data: {} }]);
    const result = await client.drain({ skipBackoff: true, timeout: 10_000 });
    expect(result).toMatchObject({ complete: true, counts: { scheduled: 2 } });
    expect(result.undelivered.map((u) => [u.id, u.reason])).toEqual([['a1', 'scheduled'], ['a2', 'scheduled']]);
    expect(receiver.acceptedIds('/steps')).toEqual(['b1']);
  });

  it('a drain does not wait out the Retry-After an adaptive endpoint holds every call back for: it says retry-after', async () => {
    const receiver = await testReceiver({ decide: firstAttempts(1, { kind: 'retryAfter', after: 50 }) });
    const offload = await startOffload({
      testing: { drain: true },
      endpoints: { sink: { url: receiver.url, adaptive: true } },
      queues: { emails: { endpoint: 'sink', path: '/emails' } },
    });
    const client = createClient({ url: offload.url });
    await client.send('emails', { id: 'm1', data: {} });
    const result = await client.drain({ skipBackoff: true, timeout: 10_000 });
    expect(result).toMatchObject({ complete: true, counts: { 'retry-after': 1 } });
    expect(result.undelivered[0]).toMatchObject({ id: 'm1', reason: 'retry-after', attempts: 1, lastError: expect.stringContaining('429') });
    expect(receiver.records()).toHaveLength(1);
  });
});
