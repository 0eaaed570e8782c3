import { describe, expect, it } from 'vitest';
import { get, post, startOffload, testReceiver } from '../support/offload.js';

describe('rates, charts and metrics', () => {
  it('counts deliveries into /v1/channels rates, the chart series and Prometheus', async () => {
    const receiver = await testReceiver();
    const offload = await startOffload({
      endpoints: { sink: { url: receiver.url } },
      queues: { audits: { endpoint: 'sink', path: '/audits' } },
      topics: { events: { subscriptions: { 'read-models': { endpoint: 'sink', path: '/events' } } } },
    });
    const messages = Array.from({ length: 20 }, (_, i) => ({ id: `a-${i}`, data: { i } }));
    expect((await post(offload.url, '/v1/queues/audits/messages/batch', { messages })).status).toBe(202);
    expect((await post(offload.url, '/v1/topics/events/messages', { id: 'e-1', data: {} })).status).toBe(202);
    await receiver.waitFor((r) => r.acceptCounts('/audits').size === 20 && r.acceptCounts('/events').size === 1, { timeoutMs: 10_000 });

    await expect.poll(async () => (await get(offload.url, '/v1/channels')).body.items.find((c: { name: string }) => c.name === 'audits').rates.deliveredPerSec).toBeGreaterThan(0);
    const channels = (await get(offload.url, '/v1/channels')).body.items as Array<{ name: string; rates: { latencyP50Ms: number | null; latencyP99Ms: number | null } }>;
    const audits = channels.find((c) => c.name === 'audits')!;
    expect(audits.rates.latencyP50Ms).toBeGreaterThanOrEqual(1);
    expect(audits.rates.latencyP99Ms).toBeGreaterThanOrEqual(audits.rates.latencyP50Ms!);
    expect(channels.find((c) => c.name === 'events')!.rates).toMatchObject({ failedPerSec: 0 });

    const series = (await get(offload.url, '/v1/rates?channel=audits&window=15m')).body;
    expect(series).toMatchObject({ channel: 'audits', window: '15m', stepSeconds: 5 });
    expect(series.t).toHaveLength(180);
    expect(series.deliveredPerSec.reduce((a: number, b: number) => a + b, 0)).toBeGreaterThan(0);
    expect((await get(offload.url, '/v1/rates?window=1h')).body.stepSeconds).toBe(20);
    expect((await get(offload.url, '/v1/rates?channel=events')).body.deliveredPerSec.some((r: number) => r > 0)).toBe(true);
    expect((await get(offload.url, '/v1/rates?window=2h')).status).toBe(400);
    expect((await get(offload.url, '/v1/rates?channel=nope')).status).toBe(400);
    expect((await get(offload.url, '/v1/rates?window=15m&window=1h')).status).toBe(400);

    const metrics = await (await fetch(`${offload.url}/metrics`)).text();
    expect(metrics).toMatch(/offload_delivery_latency_seconds_count\{target="audits"\} 20/);
    expect(metrics).toMatch(/offload_delivery_latency_seconds_bucket\{le="\+Inf",target="events\/read-models"\} 1/);
    expect(metrics).toContain('process_cpu_user_seconds_total');
    expect(metrics).toContain('nodejs_eventloop_lag_seconds');
  });
});
