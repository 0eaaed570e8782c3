import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import { createClient, type DrainResult } from '../../src/client/index.js';
import { always, firstAttempts, forIds, forKeys, firstOf } from '../../src/testing/index.js';
import { join } from 'node:path';
import { get, post, startOffload, testReceiver } from '../support/offload.js';
import { spawnOffload, writeConfig } from '../support/process.js';
import { testDir } from '../support/temp.js';
import { dropSchema, postgresAvailable, TEST_PG_URL, testSchema } from '../support/postgres.js';

const reasons = (result: DrainResult) => result.undelivered.map((u) => [u.id, u.target, u.reason]);

describe('POST /v1/drain', () => {
  it('is refused with a problem that says how to enable it, and readyz does not mention it', async () => {
    const offload = await startOffload({});
    const res = await post(offload.url, '/v1/drain', {});
    expect(res.status).toBe(403);
    expect(res.body).toMatchObject({ type: 'urn:offload:problem:drain_disabled', detail: expect.stringContaining('testing: { drain: true }') });
    expect((await get(offload.url, '/readyz')).body).toEqual({ status: 'ready', store: 'ok', writes: 'ok' });
  });

  it('delivers what was sent to queues and topics, then answers with nothing left; readyz says drain is on', async () => {
    const receiver = await testReceiver();
    const offload = await startOffload({
      testing: { drain: true },
      endpoints: { sink: { url: receiver.url } },
      queues: { emails: { endpoint: 'sink', path: '/emails' }, provisionings: { kind: 'fifo', endpoint: 'sink', path: '/provisionings' } },
      topics: { events: { subscriptions: { read: { endpoint: 'sink', path: '/read', batchSize: 10 }, billing: { endpoint: 'sink', path: '/billing', ordering: 'key' } } } },
    });
    expect((await get(offload.url, '/readyz')).body).toEqual({ status: 'ready', store: 'ok', writes: 'ok', drain: 'enabled' });
    const client = createClient({ url: offload.url });
    await client.sendBatch('emails', [{ id: 'm1', data: {} }, { id: 'm2', data: {} }]);
    await client.sendBatch('provisionings', [{ id: 'p1', key: 't1', data: {} }, { id: 'p2', key: 't1', data: {} }]);
    await client.publishBatch('events', [{ id: 'e1', key: 'o1', data: {} }, { id: 'e2', key: 'o2', data: {} }]);
    const result = await client.drain();
    expect(result).toMatchObject({ complete: true, stoppedBy: null, undelivered: [], counts: {}, truncated: false });
    expect(result.targets.sort()).toEqual(['emails', 'events/billing', 'events/read', 'provisionings']);
    expect(receiver.acceptedIds('/emails').sort()).toEqual(['m1', 'm2']);
    expect(receiver.acceptedIds('/provisionings')).toEqual(['p1', 'p2']);
    expect(receiver.acceptedIds('/read')).toEqual(['e1', 'e2']);
    expect(receiver.acceptedIds('/billing').sort()).toEqual(['e1', 'e2']);
    expect((await client.drain()).rounds).toBe(0);
  });

  it('reports waiting retries, and with skipBackoff delivers them at once without extra attempts', async () => {
    const receiver = await testReceiver({ decide: firstAttempts(1, { kind: 'status', status: 503 }) });
    const offload = await startOffload({
      testing: { drain: true },
      endpoints: { sink: { url: receiver.url } },
      queues: { emails: { endpoint: 'sink', path: '/emails', minBackoff: '1h', maxBackoff: '1h' }, provisionings: { kind: 'fifo', endpoint: 'sink', path: '/p', minBackoff: '1h', maxBackoff: '1h' } },
    });
    const client = createClient({ url: offload.url });
    await client.send('emails', { id: 'm1', data: {} });
    await client.sendBatch('provisionings', [{ id: 'p1', key: 't1', data: {} }, { id: 'p2', key: 't1', data: {} }]);
    const waiting = await client.drain();
    expect(waiting.complete).toBe(true);
    expect(reasons(waiting)).toEqual([['m1', 'emails', 'retrying'], ['p1', 'provisionings', 'retrying'], ['p2', 'provisionings', 'retrying']]);
    expect(waiting.undelivered[0]).toMatchObject({ status: 'retrying', attempts: 1, lastError: 'HTTP 503', availableAt: expect.any(String) });
    expect(waiting.counts).toEqual({ retrying: 3 });
    const hurried = await client.drain({ skipBackoff: true });
    expect(hurried).toMatchObject({ complete: true, undelivered: [] });
    expect(hurried.rounds).toBeGreaterThanOrEqual(1);
    expect(receiver.acceptedIds('/p')).toEqual(['p1', 'p2']);
    expect(receiver.records().filter((r) => r.events[0]?.id === 'm1').map((r) => r.events[0]!.attempt)).toEqual([1, 2]);
  });

  it('says why each message is left: dead-lettered, parked (and behind it), stalled, scheduled, paused', async () => {
    const receiver = await testReceiver({
      decide: firstOf(forIds(['bad-email'], { kind: 'status', status: 400 }), forKeys(['t-bad'], { kind: 'status', status: 422 }), always({ kind: 'status', status: 500 }, { targets: ['/read'] })),
    });
    const offload = await startOffload({
      testing: { drain: true },
      endpoints: { sink: { url: receiver.url } },
      queues: {
        emails: { endpoint: 'sink', path: '/emails' },
        provisionings: { kind: 'fifo', endpoint: 'sink', path: '/p' },
        audits: { endpoint: 'sink', path: '/audits' },
      },
      topics: { events: { subscriptions: { read: { endpoint: 'sink', path: '/read', stallAfterAttempts: 2, minBackoff: '1h', maxBackoff: '1h' } } } },
    });
    const client = createClient({ url: offload.url });
    await client.sendBatch('emails', [{ id: 'bad-email', data: {} }, { id: 'later', data: {}, delay: '1h' }, { id: 'ok', data: {} }]);
    await client.sendBatch('provisionings', [{ id: 'bad-1', key: 't-bad', data: {} }, { id: 'bad-2', key: 't-bad', data: {} }, { id: 'good', key: 't-good', data: {} }]);
    await client.publish('events', { id: 'e1', data: {} });
    await client.pause('queues', 'audits');
    await client.send('audits', { id: 'a1', data: {} });
    const result = await client.drain({ skipBackoff: true });
    expect(result.complete).toBe(true);
    expect(reasons(result)).toEqual([
      ['later', 'emails', 'scheduled'],
      ['bad-1', 'provisionings', 'parked'],
      ['bad-2', 'provisionings', 'parked'],
      ['a1', 'audits', 'paused'],
      ['e1', 'events/read', 'stalled'],
      ['bad-email', 'emails', 'deadlettered'],
    ]);
    expect(result.undelivered.find((u) => u.id === 'bad-email')).toMatchObject({ status: 'deadlettered', lastError: 'permanent failure: HTTP 400', availableAt: null, channel: 'emails' });
    expect(result.undelivered.find((u) => u.id === 'e1')).toMatchObject({ status: 'stalled', attempts: 2, channel: 'events' });
    expect(result.counts).toEqual({ scheduled: 1, parked: 2, paused: 1, stalled: 1, deadlettered: 1 });
    expect(receiver.acceptedIds().sort()).toEqual(['good', 'ok']);
    // Only the named channels (and nothing else) are drained and reported.
    const emails = await client.drain({ channels: ['emails'] });
    expect(emails.targets).toEqual(['emails']);
    expect(reasons(emails)).toEqual([['later', 'emails', 'scheduled'], ['bad-email', 'emails', 'deadlettered']]);
  });

  it('drains the work deliveries create, and stops at its round limit when work keeps creating work', async () => {
    let offloadUrl = '';
    let lastStep = 5;
    const seen: number[] = [];
    // An endpoint that sends the next step before it answers, up to lastStep.
    const endpoint = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        const { run, step } = (JSON.parse(body) as { data: { run: string; step: number } }).data;
        seen.push(step);
        const next = step < lastStep ? createClient({ url: offloadUrl }).send('steps', { id: `${run}-${step + 1}`, data: { run, step: step + 1 } }) : Promise.resolve();
        void next.catch(() => undefined).then(() => res.end('ok'));
      });
    });
    await new Promise<void>((resolve) => endpoint.listen(0, '127.0.0.1', resolve));
    onTestFinished(() => new Promise<void>((resolve) => endpoint.close(() => resolve())));
    const offload = await startOffload({
      testing: { drain: true },
      endpoints: { app: { url: `http://127.0.0.1:${(endpoint.address() as AddressInfo).port}` } },
      queues: { steps: { endpoint: 'app' } },
    });
    offloadUrl = offload.url;
    const client = createClient({ url: offload.url });
    await client.send('steps', { id: 'a-1', data: { run: 'a', step: 1 } });
    const result = await client.drain();
    expect(result).toMatchObject({ complete: true, undelivered: [] });
    expect(seen).toEqual([1, 2, 3, 4, 5]);

    lastStep = Number.POSITIVE_INFINITY;
    await client.send('steps', { id: 'b-1', data: { run: 'b', step: 1 } });
    const endless = await client.drain({ maxRounds: 3 });
    lastStep = 0;
    expect(endless).toMatchObject({ complete: false, stoppedBy: 'rounds', rounds: 3 });
    expect(endless.undelivered.length).toBeGreaterThan(0);
    for (const u of endless.undelivered) expect(['due', 'in-flight']).toContain(u.reason);
  });

  it('drains the notifications a delivery raises with its channel', async () => {
    const receiver = await testReceiver();
    const offload = await startOffload({
      testing: { drain: true },
      endpoints: { sink: { url: receiver.url } },
      queues: { emails: { endpoint: 'sink', path: '/emails', onDelivered: { endpoint: 'sink', path: '/notify' } }, other: { endpoint: 'sink', path: '/other' } },
    });
    const client = createClient({ url: offload.url });
    await client.send('emails', { id: 'm1', data: {} });
    await client.send('other', { id: 'o1', data: {} });
    const result = await client.drain({ channels: ['emails'] });
    expect(result).toMatchObject({ complete: true, targets: ['emails', '_notify.0'] });
    expect(receiver.acceptCounts('/notify').size).toBe(1);
  });

  it('answers complete: false at its timeout, naming what is still in flight', async () => {
    const receiver = await testReceiver({ decide: always({ kind: 'hang' }) });
    const offload = await startOffload({
      testing: { drain: true },
      delivery: { shutdownGrace: '50ms' },
      endpoints: { sink: { url: receiver.url } },
      queues: { emails: { endpoint: 'sink', path: '/emails' } },
    });
    const client = createClient({ url: offload.url });
    await client.send('emails', { id: 'm1', data: {} });
    const result = await client.drain({ timeout: '300ms' });
    expect(result).toMatchObject({ complete: false, stoppedBy: 'timeout', rounds: 1 });
    expect(result.elapsedMs).toBeGreaterThanOrEqual(250);
    expect(reasons(result)).toEqual([['m1', 'emails', 'in-flight']]);
  });

  it('does not wait for an endpoint whose circuit breaker is open', async () => {
    const receiver = await testReceiver({ decide: always({ kind: 'status', status: 500 }) });
    const offload = await startOffload({
      testing: { drain: true },
      endpoints: { sink: { url: receiver.url, breaker: { consecutiveFailures: 1, coolDown: '1h' } } },
      queues: { emails: { endpoint: 'sink', path: '/emails', concurrency: 1 } },
    });
    const client = createClient({ url: offload.url });
    await client.sendBatch('emails', [{ id: 'm1', data: {} }, { id: 'm2', data: {} }]);
    const result = await client.drain({ skipBackoff: true });
    expect(result.complete).toBe(true);
    expect(result.counts).toEqual({ 'breaker-open': 2 });
    expect(receiver.records()).toHaveLength(1);
  });

  it('validates its body like every other, and belongs to operators', async () => {
    const offload = await startOffload({
      testing: { drain: true },
      endpoints: { sink: { url: 'http://127.0.0.1:9' } },
      queues: { emails: { endpoint: 'sink' } },
    });
    const bad = async (body: unknown) => (await post(offload.url, '/v1/drain', body)).body;
    expect(await bad({ channels: ['emails', 'nope'] })).toMatchObject({ status: 400, errors: [{ path: 'channels.1', message: expect.stringContaining("'nope' is not a configured queue, topic or topic/subscription (queues: emails") }] });
    expect(await bad({ timeout: 'soon' })).toMatchObject({ status: 400, errors: [{ path: 'timeout', message: expect.stringContaining('is not a duration') }] });
    expect(await bad({ timeout: '5m' })).toMatchObject({ status: 400, errors: [{ path: 'timeout', message: expect.stringContaining('at most 2m') }] });
    expect(await bad({ channels: [] })).toMatchObject({ status: 400, errors: [{ path: 'channels' }] });
    expect(await bad({ maxRounds: 0 })).toMatchObject({ status: 400, errors: [{ path: 'maxRounds' }] });
    expect(await bad({ skipBackoff: 'yes' })).toMatchObject({ status: 400, errors: [{ path: 'skipBackoff' }] });
    expect(await bad({ wait: true })).toMatchObject({ status: 400, detail: expect.stringContaining('"wait"') });
    expect(await bad([])).toMatchObject({ status: 400 });
    expect((await post(offload.url, '/v1/drain', undefined)).status).toBe(200);
  });

  it('refuses producer and viewer keys', async () => {
    const offload = await startOffload({
      testing: { drain: true },
      server: { apiKeys: [{ key: 'op', role: 'operator' }, { key: 'view', role: 'viewer' }, { key: 'prod', role: 'producer', channels: ['*'] }] },
    });
    for (const [key, status] of [['view', 403], ['prod', 403], ['op', 200]] as const) {
      const res = await fetch(`${offload.url}/v1/drain`, { method: 'POST', headers: { authorization: `Bearer ${key}` } });
      expect(res.status, key).toBe(status);
    }
  });

  it('offload serve says in its start-up banner when drain is on', async () => {
    const dir = testDir();
    const receiver = await testReceiver();
    const proc = await spawnOffload(writeConfig(dir, {
      testing: { drain: true },
      storage: { sqlite: { path: join(dir, 'offload.db'), durability: 'process' } },
      endpoints: { sink: { url: receiver.url } },
      queues: { emails: { endpoint: 'sink' } },
    }));
    expect(proc.output()).toMatch(/listening on http:\/\/\S+ .*\| DRAIN ENABLED \(testing\.drain: POST \/v1\/drain; for test setups only\)/);
    await post(proc.url, '/v1/queues/emails/messages', { id: 'm1', data: {} });
    expect((await post(proc.url, '/v1/drain', { channels: ['emails'] })).body).toMatchObject({ complete: true, undelivered: [] });
    expect(receiver.acceptedIds()).toEqual(['m1']);
    expect(proc.output()).toContain('never enable it in production');
  });
});

describe.runIf(await postgresAvailable())('POST /v1/drain on PostgreSQL', () => {
  it('waits for what another instance on the same database delivers, retries hurried on both', async () => {
    const receiver = await testReceiver({ decide: firstAttempts(1, { kind: 'status', status: 503 }) });
    const schema = testSchema();
    onTestFinished(() => dropSchema(schema));
    const config = {
      testing: { drain: true },
      storage: { postgres: { url: TEST_PG_URL, schema, poolSize: 4 } },
      endpoints: { sink: { url: receiver.url } },
      queues: { emails: { endpoint: 'sink', path: '/emails', minBackoff: '1h', maxBackoff: '1h' }, provisionings: { kind: 'fifo' as const, endpoint: 'sink', path: '/p', minBackoff: '1h', maxBackoff: '1h' } },
      topics: { events: { subscriptions: { read: { endpoint: 'sink', path: '/read', minBackoff: '1h', maxBackoff: '1h' } } } },
    };
    const a = await startOffload(config);
    await startOffload(config);
    const client = createClient({ url: a.url });
    await client.sendBatch('emails', Array.from({ length: 10 }, (_, i) => ({ id: `m${i}`, data: {} })));
    await client.sendBatch('provisionings', Array.from({ length: 10 }, (_, i) => ({ id: `p${i}`, key: `t${i % 3}`, data: {} })));
    await client.publishBatch('events', Array.from({ length: 5 }, (_, i) => ({ id: `e${i}`, data: {} })));
    const result = await client.drain({ skipBackoff: true });
    expect(result).toMatchObject({ complete: true, undelivered: [] });
    expect(receiver.acceptCounts('/emails').size).toBe(10);
    expect(receiver.acceptedIds('/read')).toEqual(['e0', 'e1', 'e2', 'e3', 'e4']);
    for (const key of ['t0', 't1', 't2']) {
      const order = receiver.acceptedIds('/p').filter((id) => Number(id.slice(1)) % 3 === Number(key.slice(1)));
      expect(order).toEqual([...order].sort((x, y) => Number(x.slice(1)) - Number(y.slice(1))));
    }
    // Each message failed once and was delivered on its second attempt: hurrying counted no attempt.
    expect(new Set(receiver.records().map((r) => r.events[0]!.attempt))).toEqual(new Set([1, 2]));
  });
});
