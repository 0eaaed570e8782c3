import { afterAll, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../../src/config/schema.js';
import { checkHistory, type FaultReceiver } from '../../src/testing/index.js';
import { get, post, startOffload, testReceiver } from '../support/offload.js';
import { dropSchema, postgresAvailable, TEST_PG_URL, testSchema } from '../support/postgres.js';
import { until } from '../support/until.js';

const pgAvailable = await postgresAvailable();
const schemas: string[] = [];
afterAll(async () => {
  for (const schema of schemas) await dropSchema(schema);
});

const stores: Array<[string, () => ConfigInput['storage'] | undefined, boolean]> = [
  ['SQLite', () => undefined, true],
  ['PostgreSQL', () => {
    const schema = testSchema();
    schemas.push(schema);
    return { postgres: { url: TEST_PG_URL, schema } };
  }, pgAvailable],
];

/**
 * Pauses subscription events/s of 12 events through `url` while a window is under way: at most
 * the call under way is sent after it, and what was claimed ahead goes back untried.
 */
async function pauseEndsTheWindow(url: string, receiver: FaultReceiver): Promise<void> {
  expect((await post(url, '/v1/topics/events/subscriptions/s/pause', undefined)).status).toBe(200);
  const atPause = receiver.records().length;
  // Whatever was claimed ahead goes back: nothing of the subscription is in flight any more.
  await until('the window given back', async () => (await get(url, '/v1/channels')).body.items.some((c: { name: string; inFlight: number }) => c.name === 'events/s' && c.inFlight === 0));
  expect(receiver.records().length).toBeLessThanOrEqual(atPause + 1);
  const [queued] = (await get(url, '/v1/messages/e12')).body.deliveries;
  expect(queued).toMatchObject({ status: 'queued', attempts: 0 });
}

/** Messages claimed ahead (the default prefetch of 10) through the API, on both stores. */
describe.each(stores)('messages claimed ahead, on %s', (_name, storage, available) => {
  it.runIf(available)('a pause through the API sends nothing after the call under way; a resume goes on in order from the next event', { timeout: 60_000 }, async () => {
    const receiver = await testReceiver({ latencyMs: 100, exclusive: 'target' });
    const offload = await startOffload({
      storage: storage(),
      endpoints: { sink: { url: receiver.url } },
      topics: { events: { subscriptions: { s: { endpoint: 'sink', path: '/s' } } } },
    });
    const messages = Array.from({ length: 12 }, (_, i) => ({ id: `e${i + 1}`, type: 'x', data: { i } }));
    const published = await post(offload.url, '/v1/topics/events/messages/batch', { messages });
    expect(published.status).toBe(202);
    await receiver.waitFor((r) => r.records().length >= 2, { timeoutMs: 10_000 });
    await pauseEndsTheWindow(offload.url, receiver);

    expect((await post(offload.url, '/v1/topics/events/subscriptions/s/resume', undefined)).status).toBe(200);
    await receiver.waitFor((r) => r.acceptCounts('/s').size === 12, { timeoutMs: 20_000 });
    const report = checkHistory({
      accepted: published.body.items.map((r: { id: string; sequence: number }) => ({ id: r.id, channel: 'events', sequence: r.sequence })),
      targets: [{ target: '/s', channel: 'events', ordering: 'topic' }],
      deliveries: receiver.deliveries(),
    });
    expect(report.ok, report.summary()).toBe(true);
    expect(receiver.overlaps()).toEqual([]);
  });

  it.runIf(available)('a seek through the API sends nothing more of the window from before it: the next call is the seek point', { timeout: 60_000 }, async () => {
    // Each call outlasts the seek's answer; the lane is claimed again once the fenced window's lease runs out.
    const receiver = await testReceiver({ latencyMs: 300, exclusive: 'target' });
    const offload = await startOffload({
      storage: storage(),
      endpoints: { sink: { url: receiver.url } },
      topics: { events: { subscriptions: { s: { endpoint: 'sink', path: '/s', lockDuration: '3s' } } } },
    });
    const messages = Array.from({ length: 12 }, (_, i) => ({ id: `e${i + 1}`, type: 'x', data: { i } }));
    expect((await post(offload.url, '/v1/topics/events/messages/batch', { messages })).status).toBe(202);
    // Sought while e3 is in flight, once e2's answer is saved.
    await receiver.waitFor((r) => r.records().length >= 3, { timeoutMs: 10_000 });
    await until('e2 saved', async () => (await get(offload.url, '/v1/messages/e2')).body.deliveries[0].status === 'delivered');
    expect((await post(offload.url, '/v1/topics/events/subscriptions/s/seek', { sequence: 1 })).status).toBe(200);
    const soughtAt = receiver.now();
    await receiver.waitFor((r) => r.records().some((q) => q.startedAt > soughtAt), { timeoutMs: 10_000 });
    const after = receiver.records().filter((q) => q.startedAt > soughtAt);
    expect(after[0]!.events.map((e) => e.id)).toEqual(['e1']);
  });

  it.runIf(available)('a fifo key whose call fails mid-window: nothing after it is sent until it succeeds; the rest keep their attempt count', { timeout: 60_000 }, async () => {
    let failures = 2;
    const receiver = await testReceiver({
      exclusive: 'key',
      decide: (request) => (request.events.some((e) => e.id === 'k-3') && failures-- > 0 ? { kind: 'status', status: 503 } : undefined),
    });
    const offload = await startOffload({
      storage: storage(),
      endpoints: { sink: { url: receiver.url, breaker: false } },
      queues: { jobs: { kind: 'fifo', endpoint: 'sink', path: '/jobs', minBackoff: '50ms', maxBackoff: '100ms' } },
    });
    const messages = Array.from({ length: 8 }, (_, i) => ({ id: `k-${i + 1}`, key: 'k', type: 'x', data: { i } }));
    const sent = await post(offload.url, '/v1/queues/jobs/messages/batch', { messages });
    expect(sent.status).toBe(202);
    await receiver.waitFor((r) => r.acceptCounts('/jobs').size === 8, { timeoutMs: 20_000 });
    expect(receiver.deliveries().map((d) => `${d.id}:${d.outcome}`)).toEqual([
      'k-1:ok', 'k-2:ok', 'k-3:failed', 'k-3:failed', 'k-3:ok', 'k-4:ok', 'k-5:ok', 'k-6:ok', 'k-7:ok', 'k-8:ok',
    ]);
    const attempts = await Promise.all(messages.map(async (m) => (await get(offload.url, `/v1/messages/${m.id}`)).body.deliveries[0].attempts));
    expect(attempts).toEqual([1, 1, 3, 1, 1, 1, 1, 1]);
  });
});

describe.runIf(pgAvailable)('messages claimed ahead, on PostgreSQL with two instances', () => {
  it('a pause through the other instance sends nothing after the call under way', { timeout: 60_000 }, async () => {
    const schema = testSchema();
    schemas.push(schema);
    const receiver = await testReceiver({ latencyMs: 100, exclusive: 'target' });
    const config: ConfigInput = {
      storage: { postgres: { url: TEST_PG_URL, schema } },
      endpoints: { sink: { url: receiver.url } },
      topics: { events: { subscriptions: { s: { endpoint: 'sink', path: '/s' } } } },
    };
    const delivering = await startOffload(config);
    const messages = Array.from({ length: 12 }, (_, i) => ({ id: `e${i + 1}`, type: 'x', data: { i } }));
    expect((await post(delivering.url, '/v1/topics/events/messages/batch', { messages })).status).toBe(202);
    await receiver.waitFor((r) => r.records().length >= 2, { timeoutMs: 10_000 });
    // Started once the first holds the subscription's lane and its window: it cannot claim.
    const other = await startOffload(config);
    await pauseEndsTheWindow(other.url, receiver);
  });
});
