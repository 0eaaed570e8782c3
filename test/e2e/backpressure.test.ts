import { describe, expect, it, onTestFinished } from 'vitest';
import { createClient, OffloadApiError } from '../../src/client/index.js';
import { createFaultReceiver } from '../../src/testing/index.js';
import type { LiveEvent } from '../../src/server/event-hub.js';
import { get, post, startOffload } from '../support/offload.js';

describe('backpressure to producers (maxDepth)', () => {
  it('answers 429 problem+json with Retry-After at the limit, refuses a batch whole, and says so on the event stream and in /v1/channels', async () => {
    const receiver = await createFaultReceiver({});
    onTestFinished(() => receiver.close());
    const offload = await startOffload({
      endpoints: { sink: { url: receiver.url } },
      queues: { emails: { endpoint: 'sink', path: '/emails', maxDepth: 20 } },
      topics: { orders: { maxDepth: 5, subscriptions: { ledger: { endpoint: 'sink', path: '/ledger' } } } },
    });
    const events: LiveEvent[] = [];
    onTestFinished(offload.events.subscribe((e) => events.push(e)));
    expect((await post(offload.url, '/v1/queues/emails/pause', undefined)).status).toBe(200);
    const batch = (from: number, n: number) => ({ messages: Array.from({ length: n }, (_, i) => ({ id: `e-${from + i}`, data: {} })) });
    expect((await post(offload.url, '/v1/queues/emails/messages/batch', batch(0, 20))).status).toBe(202);

    const res = await fetch(`${offload.url}/v1/queues/emails/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id: 'one-more', data: {} }) });
    expect(res.status).toBe(429);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    const problem = (await res.json()) as { detail: string };
    expect(problem).toMatchObject({ status: 429, type: 'urn:offload:problem:throttled' });
    expect(problem.detail).toContain('maxDepth of 20');

    const refusedBatch = await post(offload.url, '/v1/queues/emails/messages/batch', batch(100, 5));
    expect(refusedBatch.status).toBe(429);
    // Refused before its body is read: a send to a full channel costs no parsing (this body is not even JSON).
    const unread = await fetch(`${offload.url}/v1/queues/emails/messages/batch`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: `{"messages":[${'x'.repeat(100_000)}` });
    expect(unread.status).toBe(429);
    await unread.text();
    expect((await get(offload.url, '/v1/messages/e-100')).status).toBe(404);
    expect((await get(offload.url, '/v1/messages/one-more')).status).toBe(404);
    expect(events.filter((e) => e.type === 'throttled')).toEqual([expect.objectContaining({ channel: 'emails', depth: 20 })]);
    const emails = (await get(offload.url, '/v1/channels')).body.items.find((c: { name: string }) => c.name === 'emails');
    expect(emails).toMatchObject({ depth: 20, backpressure: { maxDepth: 20, throttled: true, refused: 3 } });
    const metrics = await (await fetch(`${offload.url}/metrics`)).text();
    expect(metrics).toMatch(/offload_producer_throttled_total\{channel="emails"\} 3/);

    // Another channel is not affected; a topic counts its deepest subscription.
    expect((await post(offload.url, '/v1/topics/orders/messages/batch', batch(200, 3))).status).toBe(202);
  });

  it('a producer pushed back loses nothing once the backlog drains: the client waits for Retry-After and sends again', { timeout: 60_000 }, async () => {
    const receiver = await createFaultReceiver({ latencyMs: 20 });
    onTestFinished(() => receiver.close());
    const offload = await startOffload({
      endpoints: { sink: { url: receiver.url } },
      queues: { emails: { endpoint: 'sink', path: '/emails', concurrency: 2, maxDepth: 15 } },
    });
    let pushedBack = 0;
    const client = createClient({
      url: offload.url,
      throttled: { attempts: 50, maxWaitMs: 2_000 },
      sleep: (ms) => {
        pushedBack++;
        return new Promise((resolve) => setTimeout(resolve, ms));
      },
    });
    const total = 120;
    for (let i = 0; i < total; i += 10) {
      await client.sendBatch('emails', Array.from({ length: 10 }, (_, j) => ({ id: `m-${i + j}`, data: { n: i + j } })));
    }
    await receiver.waitFor((r) => r.acceptCounts('/emails').size === total, { timeoutMs: 30_000 });
    expect(pushedBack).toBeGreaterThan(0);
    expect(new Set(receiver.acceptedIds('/emails'))).toEqual(new Set(Array.from({ length: total }, (_, i) => `m-${i}`)));
  });

  it('the client gives up after its attempts with the server’s Retry-After', async () => {
    const client = createClient({
      url: 'http://offload.test',
      throttled: { attempts: 2 },
      sleep: async () => undefined,
      fetch: async () => new Response(JSON.stringify({ type: 'urn:offload:problem:throttled', title: 'Too Many Requests', status: 429, detail: 'full' }), { status: 429, headers: { 'retry-after': '3', 'content-type': 'application/problem+json' } }),
    });
    const error = await client.send('emails', { data: {} }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OffloadApiError);
    expect(error).toMatchObject({ status: 429, retryAfterMs: 3_000 });
  });
});
