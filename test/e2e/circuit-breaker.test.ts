import { describe, expect, it } from 'vitest';
import { createFaultSwitch } from '../../src/testing/index.js';
import { get, post, startOffload, testReceiver } from '../support/offload.js';

const OUTAGE_MS = 30_000;

describe('circuit breaker', () => {
  it('a 30-second outage opens the breaker, other endpoints keep their pace, and waiting messages keep their attempts', { timeout: 120_000 }, async () => {
    const outage = createFaultSwitch({ kind: 'status', status: 500, body: 'down' });
    const down = await testReceiver({ decide: outage.decide });
    const healthy = await testReceiver({ latencyMs: 2 });
    const offload = await startOffload({
      endpoints: {
        sms: { url: down.url, breaker: { consecutiveFailures: 5, coolDown: '5s' } },
        audit: { url: healthy.url },
      },
      queues: {
        smses: { endpoint: 'sms', path: '/sms', concurrency: 8, minBackoff: '100ms', maxBackoff: '1s', maxAttempts: 10 },
        audits: { endpoint: 'audit', path: '/audit', concurrency: 8 },
      },
    });

    const outageStart = down.now();
    const smsIds = Array.from({ length: 200 }, (_, i) => `sms-${i}`);
    expect((await post(offload.url, '/v1/queues/smses/messages/batch', { messages: smsIds.map((id) => ({ id, data: {} })) })).status).toBe(202);
    await expect.poll(async () => (await get(offload.url, '/v1/breakers')).body.items.find((b: { endpoints: string[] }) => b.endpoints.includes('sms'))?.state, { timeout: 10_000 }).toBe('open');
    const channels = (await get(offload.url, '/v1/channels')).body.items;
    expect(channels.find((c: { name: string }) => c.name === 'smses').breaker).toBe('open');
    expect(channels.find((c: { name: string }) => c.name === 'audits').breaker).toBe('closed');

    // The healthy endpoint keeps its pace while the other is down: each audit arrives promptly.
    const lags: number[] = [];
    let n = 0;
    while (down.now() - outageStart < OUTAGE_MS) {
      const id = `audit-${n++}`;
      const sentAt = healthy.now();
      await post(offload.url, '/v1/queues/audits/messages', { id, data: {} });
      await healthy.waitFor((r) => r.acceptCounts('/audit').has(id), { timeoutMs: 5_000 });
      lags.push(healthy.records().find((r) => r.events[0]?.id === id)!.startedAt - sentAt);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    lags.sort((a, b) => a - b);
    expect(lags[Math.floor(lags.length * 0.99)]!).toBeLessThan(500);

    const callsDuringOutage = down.records().length;
    outage.release();
    await down.waitFor((r) => r.acceptCounts('/sms').size === 200, { timeoutMs: 30_000 });
    // Without the breaker, 200 messages retried every ≤1s for 30s would have made thousands of
    // calls and dead-lettered them all. With it: the calls that opened it, in-flight ones, probes.
    expect(callsDuringOutage).toBeLessThan(40);
    expect((await get(offload.url, '/v1/queues/smses/deadletters')).body.items).toEqual([]);
    const attempts = await Promise.all(smsIds.map(async (id) => (await get(offload.url, `/v1/messages/${id}`)).body.deliveries[0].attempts as number));
    expect(attempts.filter((a) => a === 1).length).toBeGreaterThan(150);
    expect(Math.max(...attempts)).toBeLessThan(10);
    await expect.poll(async () => (await get(offload.url, '/v1/breakers')).body.items.find((b: { endpoints: string[] }) => b.endpoints.includes('sms'))?.state, { timeout: 10_000 }).toBe('closed');
  });

  it('one queue\'s messages that the endpoint keeps failing hold another queue on the same origin back for a cool-down or two, not for as long as they fail', { timeout: 60_000 }, async () => {
    // One origin: /poison answers 500 to everything (its payloads crash the handler), /ok works.
    const receiver = await testReceiver({ decide: (request) => (request.path === '/poison' ? { kind: 'status', status: 500, body: 'handler crashed' } : undefined) });
    const breaker = { consecutiveFailures: 5, coolDown: '3s' };
    const offload = await startOffload({
      endpoints: { a: { url: receiver.url, breaker }, a2: { url: receiver.url, breaker } },
      queues: {
        poison: { endpoint: 'a', path: '/poison', concurrency: 8, minBackoff: '10ms', maxBackoff: '20ms', maxAttempts: 1000 },
        victim: { endpoint: 'a2', path: '/ok', concurrency: 8 },
      },
    });
    expect((await post(offload.url, '/v1/queues/poison/messages/batch', { messages: Array.from({ length: 40 }, (_, i) => ({ id: `p${i}`, data: {} })) })).status).toBe(202);
    await expect.poll(async () => (await get(offload.url, '/v1/breakers')).body.items[0]?.state, { timeout: 10_000 }).toBe('open');
    // While the poison keeps failing, the victim's work still goes through: the probes it is offered close the circuit.
    const ids = Array.from({ length: 20 }, (_, i) => `v${i}`);
    expect((await post(offload.url, '/v1/queues/victim/messages/batch', { messages: ids.map((id) => ({ id, data: {} })) })).status).toBe(202);
    await receiver.waitFor((r) => ids.every((id) => r.acceptCounts('/ok').has(id)), { timeoutMs: 10_000 });
    // From then on the poison's failures are its own: the circuit stays closed and each victim message goes at once.
    for (let i = 0; i < 30; i++) {
      const id = `w${i}`;
      expect((await post(offload.url, '/v1/queues/victim/messages', { id, data: {} })).status).toBe(202);
      await receiver.waitFor((r) => r.acceptCounts('/ok').has(id), { timeoutMs: 1_500 });
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect((await get(offload.url, '/v1/breakers')).body.items[0].state).toBe('closed');
    expect(receiver.records().filter((r) => r.path === '/poison').length).toBeGreaterThan(100);
  });

  it('a subscription\'s view shows its endpoint\'s open breaker, as /v1/channels does', { timeout: 30_000 }, async () => {
    const receiver = await testReceiver({ decide: () => ({ kind: 'status', status: 503, body: 'down' }) });
    const offload = await startOffload({
      endpoints: { projector: { url: receiver.url, breaker: { consecutiveFailures: 3, coolDown: '1m' } } },
      topics: { orders: { subscriptions: { views: { endpoint: 'projector', path: '/views', minBackoff: '10ms', maxBackoff: '20ms' } } } },
    });
    expect((await post(offload.url, '/v1/topics/orders/messages', { id: 'o1', data: {} })).status).toBe(202);
    await expect.poll(async () => (await get(offload.url, '/v1/breakers')).body.items[0]?.state, { timeout: 10_000 }).toBe('open');
    expect((await get(offload.url, '/v1/topics/orders/subscriptions/views')).body.breaker).toBe('open');
    expect((await get(offload.url, '/v1/channels')).body.items.find((c: { name: string }) => c.name === 'orders/views').breaker).toBe('open');
  });
});
