import { describe, expect, it, onTestFinished } from 'vitest';
import type { ConfigInput } from '../../src/config/schema.js';
import { firstOf } from '../../src/testing/index.js';
import { get, post, startOffload, testReceiver } from '../support/offload.js';
import { dropSchema, postgresAvailable, TEST_PG_URL, testSchema } from '../support/postgres.js';

const pgUp = await postgresAvailable();

/** SQLite: the test's own file (the default); PostgreSQL: a schema of its own, dropped after. */
function storageOf(db: 'SQLite' | 'PostgreSQL'): ConfigInput['storage'] | undefined {
  if (db === 'SQLite') return undefined;
  const schema = testSchema();
  onTestFinished(() => dropSchema(schema));
  return { postgres: { url: TEST_PG_URL, schema, poolSize: 4 } };
}

/** The metric line's value, or 0 when the series does not exist yet. */
async function metric(base: string, series: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

describe.each(['SQLite', 'PostgreSQL'] as const)('priority and expiry on a plain queue, on %s', (db) => {
  it.skipIf(db === 'PostgreSQL' && !pgUp)('delivers a high priority message ahead of a backlog sent before it, oldest first within a priority', async () => {
    const receiver = await testReceiver();
    const offload = await startOffload({
      storage: storageOf(db),
      endpoints: { sink: { url: receiver.url } },
      queues: { emails: { endpoint: 'sink', path: '/emails', concurrency: 1 } },
    });
    // Paused, so the whole backlog is waiting when the urgent messages arrive.
    await post(offload.url, '/v1/queues/emails/pause', undefined);
    const backlog = Array.from({ length: 30 }, (_, i) => ({ id: `bulk-${i}`, data: { n: i } }));
    expect((await post(offload.url, '/v1/queues/emails/messages/batch', { messages: backlog })).status).toBe(202);
    expect((await post(offload.url, '/v1/queues/emails/messages', { id: 'reset-1', data: {}, priority: 10 })).status).toBe(202);
    expect((await post(offload.url, '/v1/queues/emails/messages', { id: 'low', data: {}, priority: -1 })).status).toBe(202);
    expect((await post(offload.url, '/v1/queues/emails/messages', { id: 'reset-2', data: {}, priority: 10 })).status).toBe(202);
    expect((await get(offload.url, '/v1/messages/reset-1')).body).toMatchObject({ priority: 10, status: 'queued' });
    await post(offload.url, '/v1/queues/emails/resume', undefined);

    await receiver.waitFor((r) => r.acceptCounts('/emails').size === 33, { timeoutMs: 30_000, description: 'all 33 delivered' });
    const order = receiver.records().map((r) => r.events[0]!.id);
    expect(order).toEqual(['reset-1', 'reset-2', ...backlog.map((m) => m.id), 'low']);
  });

  it.skipIf(db === 'PostgreSQL' && !pgUp)('dead-letters an expired message with reason expired without calling the endpoint, and makes no retry after expiry', async () => {
    const receiver = await testReceiver({ decide: firstOf((req) => (req.events[0]?.id === 'flaky' ? { kind: 'status', status: 503 } : undefined)) });
    const offload = await startOffload({
      storage: storageOf(db),
      delivery: { pollInterval: '50ms' },
      endpoints: { sink: { url: receiver.url } },
      queues: {
        offers: { endpoint: 'sink', path: '/offers', ttl: '300ms', minBackoff: '10s', maxBackoff: '10s' },
      },
    });
    // A paused queue is never claimed: expiry must still happen, by the sweep.
    await post(offload.url, '/v1/queues/offers/pause', undefined);
    expect((await post(offload.url, '/v1/queues/offers/messages', { id: 'stale', data: { offer: 1 } })).status).toBe(202);
    expect((await post(offload.url, '/v1/queues/offers/messages', { id: 'lasting', data: { offer: 2 }, ttl: '10m' })).status).toBe(202);
    await expect.poll(async () => (await get(offload.url, '/v1/messages/stale')).body.status, { timeout: 10_000 }).toBe('deadlettered');
    await post(offload.url, '/v1/queues/offers/resume', undefined);
    await receiver.waitFor((r) => r.acceptCounts('/offers').has('lasting'), { timeoutMs: 10_000, description: 'lasting delivered' });

    // One attempt, answered 503; its retry would come 10s later, after its 3s ttl: not made.
    expect((await post(offload.url, '/v1/queues/offers/messages', { id: 'flaky', data: { offer: 3 }, ttl: '3s' })).status).toBe(202);
    await expect.poll(async () => (await get(offload.url, '/v1/messages/flaky')).body.status, { timeout: 10_000 }).toBe('deadlettered');

    const dead = (await get(offload.url, '/v1/queues/offers/deadletters')).body.items as Array<{ id: string; lastError: string; attempts: number; history: unknown[] }>;
    expect(dead.map((d) => [d.id, d.lastError, d.attempts, d.history.length]).sort()).toEqual([['flaky', 'expired', 1, 1], ['stale', 'expired', 0, 0]]);
    const seen = receiver.records().map((r) => r.events[0]!.id);
    expect(seen).not.toContain('stale');
    expect(seen.filter((id) => id === 'flaky')).toHaveLength(1);
    expect(await metric(offload.url, 'offload_expired_total{target="offers"}')).toBe(2);
    const channel = (await get(offload.url, '/v1/channels')).body.items.find((c: { name: string }) => c.name === 'offers');
    expect(channel).toMatchObject({ deadLettered: 2, depth: 0 });
  });

  it.skipIf(db === 'PostgreSQL' && !pgUp)('redrives an expired message with a fresh time to live, and it is delivered', async () => {
    const receiver = await testReceiver();
    const offload = await startOffload({
      storage: storageOf(db),
      delivery: { pollInterval: '50ms' },
      endpoints: { sink: { url: receiver.url } },
      queues: { offers: { endpoint: 'sink', path: '/offers' } },
    });
    await post(offload.url, '/v1/queues/offers/pause', undefined);
    expect((await post(offload.url, '/v1/queues/offers/messages', { id: 'again', data: {}, ttl: '2s' })).status).toBe(202);
    await expect.poll(async () => (await get(offload.url, '/v1/messages/again')).body.status, { timeout: 10_000 }).toBe('deadlettered');
    await post(offload.url, '/v1/queues/offers/resume', undefined);
    expect((await post(offload.url, '/v1/queues/offers/deadletters/redrive', {})).body).toEqual({ redriven: 1 });
    await receiver.waitFor((r) => r.acceptCounts('/offers').has('again'), { timeoutMs: 10_000, description: 'the redriven message delivered' });
    await expect.poll(async () => (await get(offload.url, '/v1/messages/again')).body.status, { timeout: 5_000 }).toBe('delivered');
  });
});
