import { describe, expect, it } from 'vitest';
import { checkHistory, createFaultSwitch, firstOf } from '../../src/testing/index.js';
import { get, post, startOffload, testReceiver } from '../support/offload.js';

type Accepted = { id: string; channel: string; key?: string; sequence: number };

/** Publishes `total` events from `publishers` concurrent producers in batches; returns what was accepted. */
async function publishConcurrently(url: string, topic: string, total: number, publishers: number, keyOf: (n: number) => string | undefined): Promise<Accepted[]> {
  const accepted: Accepted[] = [];
  const perPublisher = total / publishers;
  await Promise.all(
    Array.from({ length: publishers }, async (_, p) => {
      for (let start = 0; start < perPublisher; start += 50) {
        const messages = Array.from({ length: 50 }, (_, i) => {
          const n = p * perPublisher + start + i;
          const key = keyOf(n);
          return { id: `ev-${n}`, type: 'order.changed', data: { n }, ...(key ? { key } : {}) };
        });
        const res = await post(url, `/v1/topics/${topic}/messages/batch`, { messages });
        expect(res.status).toBe(202);
        res.body.items.forEach((r: { id: string; sequence: number }, i: number) => accepted.push({ id: r.id, channel: topic, sequence: r.sequence, ...(messages[i]!.key ? { key: messages[i]!.key } : {}) }));
      }
    }),
  );
  return accepted;
}

describe('ordered topic subscriptions', () => {

  it('gives 3 subscriptions every one of 10,000 events from 4 publishers in sequence; a failing one stalls at #k and resumes in order', { timeout: 300_000 }, async () => {
    const poison = createFaultSwitch({ kind: 'status', status: 500 }, { ids: ['ev-1234'], targets: ['/c'] });
    const receiver = await testReceiver({ decide: firstOf(poison.decide), exclusive: 'target' });
    const offload = await startOffload({
      endpoints: { sink: { url: receiver.url } },
      topics: {
        domain_events: {
          subscriptions: {
            a: { endpoint: 'sink', path: '/a', ordering: 'topic' },
            b: { endpoint: 'sink', path: '/b', ordering: 'topic', batchSize: 100 },
            c: { endpoint: 'sink', path: '/c', ordering: 'topic', stallAfterAttempts: 3, minBackoff: '10ms', maxBackoff: '100ms', onStalled: { endpoint: 'sink', path: '/alerts' } },
          },
        },
      },
    });
    const accepted = await publishConcurrently(offload.url, 'domain_events', 10_000, 4, () => undefined);
    const sequences = accepted.map((a) => a.sequence).sort((x, y) => x - y);
    expect(sequences).toEqual(Array.from({ length: 10_000 }, (_, i) => i + 1));
    const k = accepted.find((a) => a.id === 'ev-1234')!.sequence;

    await receiver.waitFor((r) => r.acceptCounts('/a').size === 10_000 && r.acceptCounts('/b').size === 10_000, { timeoutMs: 120_000, description: 'a and b complete' });
    await receiver.waitFor((r) => r.acceptCounts('/alerts').size === 1, { timeoutMs: 10_000, description: 'one stall alert' });
    const alert = receiver.records().find((r) => r.path === '/alerts')!;
    expect(JSON.parse(alert.body)).toMatchObject({ type: 'offload.subscription.stalled', data: { target: 'domain_events/c', messageIds: ['ev-1234'] } });
    const sub = await get(offload.url, '/v1/topics/domain_events/subscriptions/c');
    expect(sub.body).toMatchObject({ stalled: true, lag: 10_000 - k + 1 });
    expect(sub.body.blockedLanes[0].head.id).toBe('ev-1234');
    expect(receiver.acceptCounts('/c').size).toBe(k - 1);

    poison.release();
    await receiver.waitFor((r) => r.acceptCounts('/c').size === 10_000, { timeoutMs: 120_000, description: 'c resumes and completes' });
    const report = checkHistory({
      accepted,
      targets: ['a', 'b', 'c'].map((s) => ({ target: `/${s}`, channel: 'domain_events', ordering: 'topic' as const })),
      deliveries: receiver.deliveries().filter((d) => d.target !== '/alerts'),
    });
    expect(report.ok, report.summary()).toBe(true);
    expect(receiver.overlaps()).toEqual([]);
    // Only the stalled event was repeated, and only at /c.
    expect(report.duplicated).toEqual([]);
    await expect.poll(async () => (await get(offload.url, '/v1/topics/domain_events/subscriptions/c')).body, { timeout: 5_000 }).toMatchObject({ stalled: false, lag: 0, lastSequence: 10_000 });
  });

  it('with ordering key: 200 keys × 50 events arrive in order per key, never two of a key at once, keys in parallel', { timeout: 180_000 }, async () => {
    const receiver = await testReceiver({ exclusive: 'key', latencyMs: { min: 0, max: 5 } });
    const offload = await startOffload({
      endpoints: { sink: { url: receiver.url } },
      topics: { orders: { subscriptions: { billing: { endpoint: 'sink', path: '/billing', ordering: 'key', concurrency: 32 } } } },
    });
    const accepted = await publishConcurrently(offload.url, 'orders', 10_000, 4, (n) => `order-${n % 200}`);
    await receiver.waitFor((r) => r.acceptCounts('/billing').size === 10_000, { timeoutMs: 120_000 });
    const report = checkHistory({ accepted, targets: [{ target: '/billing', channel: 'orders', ordering: 'key' }], deliveries: receiver.deliveries() });
    expect(report.ok, report.summary()).toBe(true);
    expect(receiver.overlaps()).toEqual([]);
    // Keys progressed in parallel: at some moment many different keys were in flight together.
    const records = receiver.records();
    let maxParallel = 0;
    for (const r of records) maxParallel = Math.max(maxParallel, records.filter((o) => o.startedAt <= r.startedAt && (o.endedAt ?? Infinity) > r.startedAt).length);
    expect(maxParallel).toBeGreaterThan(8);
  });

  it('skips a stalled head on request, keeps it with its history, and redelivers it later', async () => {
    const poison = createFaultSwitch({ kind: 'status', status: 422 }, { ids: ['e2'] });
    const receiver = await testReceiver({ decide: poison.decide });
    const offload = await startOffload({
      endpoints: { sink: { url: receiver.url } },
      topics: { t: { subscriptions: { s: { endpoint: 'sink', path: '/s', minBackoff: '10ms', maxBackoff: '20s' } } } },
    });
    for (const id of ['e1', 'e2', 'e3']) await post(offload.url, '/v1/topics/t/messages', { id, data: {} });
    await expect.poll(async () => (await get(offload.url, '/v1/messages/e2')).body.status, { timeout: 10_000 }).toBe('stalled');
    expect(receiver.acceptedIds('/s')).toEqual(['e1']);
    // Ordered by topic: one lane, no keys; a ?key= is a mistake, not a lane of that name.
    const keyed = await post(offload.url, '/v1/topics/t/subscriptions/s/skip?key=zz', undefined);
    expect(keyed.status).toBe(400);
    expect(keyed.body.detail).toBe("'t/s' is ordered by topic: it has one lane, no keys; leave out ?key=");
    const skipped = await post(offload.url, '/v1/topics/t/subscriptions/s/skip', undefined);
    expect(skipped.status).toBe(200);
    expect(skipped.body.skipped).toMatchObject({ id: 'e2', status: 'skipped', attempts: 1 });
    await receiver.waitFor((r) => r.acceptedIds('/s').includes('e3'), { timeoutMs: 10_000 });
    expect((await get(offload.url, '/v1/topics/t/subscriptions/s/skipped')).body.items.map((i: { id: string }) => i.id)).toEqual(['e2']);
    poison.release();
    // Ids that name no skipped event of the subscription are said, not silently dropped.
    expect((await post(offload.url, '/v1/topics/t/subscriptions/s/skipped/redeliver', { ids: ['e1', 'nope'] })).body).toEqual({ redelivered: 0, notFound: ['e1', 'nope'] });
    expect((await post(offload.url, '/v1/topics/t/subscriptions/s/skipped/redeliver', {})).body).toEqual({ redelivered: 1 });
    await receiver.waitFor((r) => r.acceptedIds('/s').includes('e2'), { timeoutMs: 10_000 });
    expect(receiver.acceptedIds('/s')).toEqual(['e1', 'e3', 'e2']);
  });

  it('on a subscription ordered by key, retry and skip without ?key= say which keys are blocked instead of finding nothing', async () => {
    const poison = createFaultSwitch({ kind: 'status', status: 422 }, { ids: ['k1'] });
    const receiver = await testReceiver({ decide: poison.decide });
    const offload = await startOffload({
      endpoints: { sink: { url: receiver.url } },
      topics: { t: { subscriptions: { s: { endpoint: 'sink', path: '/s', ordering: 'key', minBackoff: '10ms', maxBackoff: '20s' } } } },
    });
    await post(offload.url, '/v1/topics/t/messages', { id: 'k1', key: 'tenant-7', data: {} });
    await expect.poll(async () => (await get(offload.url, '/v1/messages/k1')).body.status, { timeout: 10_000 }).toBe('stalled');
    for (const action of ['retry', 'skip']) {
      const refused = await post(offload.url, `/v1/topics/t/subscriptions/s/${action}`, undefined);
      expect(refused.status).toBe(400);
      expect(refused.body.detail).toBe("'t/s' is ordered by key: say which key with ?key=<key> (blocked now: tenant-7)");
    }
    poison.release();
    expect((await post(offload.url, '/v1/topics/t/subscriptions/s/retry?key=tenant-7', undefined)).status).toBe(200);
    await receiver.waitFor((r) => r.acceptedIds('/s').includes('k1'), { timeoutMs: 10_000 });
  });

  it('delivers ordered batches and retries a failing batch whole', async () => {
    const failing = createFaultSwitch({ kind: 'status', status: 503 }, { ids: ['b-3'] });
    const receiver = await testReceiver({ decide: failing.decide });
    const offload = await startOffload({
      endpoints: { sink: { url: receiver.url } },
      topics: { t: { subscriptions: { s: { endpoint: 'sink', path: '/s', batchSize: 4, minBackoff: '10ms', maxBackoff: '50ms' } } } },
    });
    // Publish while paused so the first batch is full.
    expect((await post(offload.url, '/v1/topics/t/pause', undefined)).body).toEqual({ name: 't', paused: true });
    const messages = Array.from({ length: 10 }, (_, i) => ({ id: `b-${i}`, data: { i } }));
    const res = await post(offload.url, '/v1/topics/t/messages/batch', { messages });
    expect(res.status).toBe(202);
    await post(offload.url, '/v1/topics/t/resume', undefined);
    await receiver.waitFor((r) => r.records().filter((x) => x.status === 503).length >= 2, { timeoutMs: 10_000 });
    failing.release();
    await receiver.waitFor((r) => r.acceptCounts('/s').size === 10, { timeoutMs: 10_000 });
    const batches = receiver.records().map((r) => ({ status: r.status, ids: r.events.map((e) => e.id) }));
    expect(batches[0]!.ids).toEqual(['b-0', 'b-1', 'b-2', 'b-3']);
    expect(batches.filter((b) => b.status === 503).every((b) => b.ids.join() === 'b-0,b-1,b-2,b-3')).toBe(true);
    expect(batches.filter((b) => b.status === 200).flatMap((b) => b.ids)).toEqual(messages.map((m) => m.id));
    expect(receiver.records()[0]!.contentType).toBe('application/cloudevents-batch+json');
  });
});
