import { describe, expect, it } from 'vitest';
import { byProbability, checkHistory, firstAttempts, firstOf } from '../../src/testing/index.js';
import { get, post, startOffload, testReceiver } from '../support/offload.js';

describe('ancillary queue delivery', () => {

  it('delivers 5,000 messages through 500s, hangs and dropped connections, each id applied once', async () => {
    const receiver = await testReceiver({
      decide: byProbability({
        seed: 7,
        faults: [
          { probability: 0.3, fault: { kind: 'status', status: 500 } },
          { probability: 0.05, fault: { kind: 'hang' } },
          { probability: 0.05, fault: { kind: 'reset' } },
        ],
      }),
    });
    const offload = await startOffload({
      endpoints: { sink: { url: receiver.url } },
      queues: { audits: { preset: 'ancillary', endpoint: 'sink', path: '/audits', concurrency: 64, timeout: '1s', minBackoff: '10ms', maxBackoff: '200ms', maxAttempts: 100 } },
    });
    const accepted: Array<{ id: string; channel: string }> = [];
    for (let batch = 0; batch < 50; batch++) {
      const messages = Array.from({ length: 100 }, (_, i) => ({ id: `a-${batch}-${i}`, type: 'audit.recorded', data: { n: batch * 100 + i } }));
      const res = await post(offload.url, '/v1/queues/audits/messages/batch', { messages });
      expect(res.status).toBe(202);
      for (const item of res.body.items) accepted.push({ id: item.id, channel: 'audits' });
    }
    await receiver.waitFor((r) => r.acceptCounts('/audits').size === 5_000, { timeoutMs: 120_000, description: 'all 5,000 acknowledged' });
    const report = checkHistory({ accepted, targets: [{ target: '/audits', channel: 'audits' }], deliveries: receiver.deliveries() });
    expect(report.lost).toEqual([]);
    expect(report.unexpected).toEqual([]);
    // The idempotent receiver applies each id once. A second 2xx of one id is only acceptable where
    // Offload could not see the first answer: that attempt ended in a timeout or a network error.
    expect(receiver.applied('/audits').size).toBe(5_000);
    for (const dup of report.duplicated) {
      const history = (await get(offload.url, `/v1/messages/${dup.id}`)).body.deliveries[0].history as Array<{ statusCode: number | null; error: string | null }>;
      expect(history.filter((a) => a.statusCode === 200)).toHaveLength(1);
      expect(history.some((a) => a.error !== null)).toBe(true);
    }
    const faults = receiver.records().filter((r) => r.outcome !== 'answered' || r.status !== 200).length;
    expect(faults).toBeGreaterThan(1_000);
    const status = await get(offload.url, '/v1/messages/a-0-0');
    expect(status.body.status).toBe('delivered');
    expect(status.body.deliveries[0].history.length).toBe(status.body.deliveries[0].attempts);
    const channels = await get(offload.url, '/v1/channels');
    const audits = channels.body.items.find((c: { name: string }) => c.name === 'audits');
    await expect.poll(async () => (await get(offload.url, '/v1/channels')).body.items[0].delivered, { timeout: 5_000 }).toBe(5_000);
    expect(audits.deadLettered).toBe(0);
  });

  it('retries each message when its Retry-After passes, with nothing else sent to wake the queue', { timeout: 30_000 }, async () => {
    const receiver = await testReceiver({
      decide: firstOf(
        firstAttempts(1, { kind: 'retryAfter', after: 1, status: 429 }, { ids: ['a'] }),
        firstAttempts(1, { kind: 'retryAfter', after: 2, status: 503 }, { ids: ['b'] }),
      ),
    });
    const offload = await startOffload({
      endpoints: { sink: { url: receiver.url, breaker: false } },
      queues: { q: { endpoint: 'sink', path: '/q', concurrency: 1, minBackoff: '100ms', maxBackoff: '10s' } },
    });
    for (const id of ['a', 'b']) expect((await post(offload.url, '/v1/queues/q/messages', { id, data: {} })).status).toBe(202);
    await receiver.waitFor((r) => r.acceptCounts('/q').size === 2, { timeoutMs: 10_000, description: 'both retried and delivered' });
    const second = (id: string) => receiver.records().filter((r) => r.idempotencyKey === id)[1]!.startedAt;
    const first = (id: string) => receiver.records().find((r) => r.idempotencyKey === id)!.startedAt;
    expect(second('a') - first('a')).toBeGreaterThanOrEqual(1_000);
    expect(second('b') - first('b')).toBeGreaterThanOrEqual(2_000);
    expect(second('b') - first('b')).toBeLessThan(4_000);
  });

  it('dead-letters a permanent failure after one attempt and redrives it once the receiver accepts it', async () => {
    const bad = new Set(['m-2', 'm-5']);
    const receiver = await testReceiver({ decide: firstOf((req) => (req.events.some((e) => bad.has(e.id)) ? { kind: 'status', status: 400, body: 'invalid phone number' } : undefined)) });
    const offload = await startOffload({
      endpoints: { sink: { url: receiver.url } },
      queues: { smses: { preset: 'ancillary', endpoint: 'sink', path: '/smses', minBackoff: '10ms', maxBackoff: '50ms' } },
    });
    for (let i = 0; i < 8; i++) expect((await post(offload.url, '/v1/queues/smses/messages', { id: `m-${i}`, data: { to: `+1555000${i}` } })).status).toBe(202);
    await expect.poll(async () => (await get(offload.url, '/v1/queues/smses/deadletters')).body.items.length, { timeout: 10_000 }).toBe(2);
    const dead = (await get(offload.url, '/v1/queues/smses/deadletters')).body.items;
    expect(dead.map((d: { id: string }) => d.id).sort()).toEqual(['m-2', 'm-5']);
    expect(dead[0]).toMatchObject({ status: 'deadlettered', attempts: 1, lastError: 'permanent failure: HTTP 400' });
    expect(dead[0].history[0]).toMatchObject({ statusCode: 400, response: 'invalid phone number' });
    expect(receiver.records().filter((r) => r.events[0]?.id === 'm-2')).toHaveLength(1);
    bad.clear();
    // By ids: one that is not a dead letter of this queue (delivered, or never sent) is named, not dropped.
    expect((await post(offload.url, '/v1/queues/smses/deadletters/redrive', { ids: ['m-2', 'm-1', 'm-typo'] })).body).toEqual({ redriven: 1, notFound: ['m-1', 'm-typo'] });
    expect((await post(offload.url, '/v1/queues/smses/deadletters/redrive', {})).body).toEqual({ redriven: 1 });
    await receiver.waitFor((r) => r.acceptCounts('/smses').size === 8, { timeoutMs: 10_000 });
    await expect.poll(async () => (await get(offload.url, '/v1/messages/m-2')).body.status, { timeout: 5_000 }).toBe('delivered');
    expect((await get(offload.url, '/v1/queues/smses/deadletters')).body.items).toEqual([]);
  });
});
