import { Agent, request } from 'undici';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CLOUD_EVENT_BATCH_TYPE, CLOUD_EVENT_TYPE } from './cloud-events.js';
import { firstAttempts, forIds } from './deciders.js';
import { createFaultReceiver, type FaultReceiver, type FaultReceiverOptions } from './fault-receiver.js';
import { checkHistory } from './history-checker.js';

interface EventInput {
  id: string;
  subject?: string;
  sequence?: number;
  attempt?: number;
}

let agent: Agent;
const opened: FaultReceiver[] = [];

beforeEach(() => {
  agent = new Agent({ keepAliveTimeout: 1_000 });
});

afterEach(async () => {
  await Promise.all(opened.splice(0).map((r) => r.close()));
  await agent.destroy();
  vi.restoreAllMocks();
});

async function start(options: FaultReceiverOptions = {}): Promise<FaultReceiver> {
  const receiver = await createFaultReceiver(options);
  opened.push(receiver);
  return receiver;
}

function cloudEvent(e: EventInput): Record<string, unknown> {
  return {
    specversion: '1.0',
    id: e.id,
    source: 'offload/test',
    type: 'test.event',
    time: new Date().toISOString(),
    subject: e.subject,
    partitionkey: e.subject,
    sequence: e.sequence,
    deliveryattempt: e.attempt ?? 1,
    data: { n: 1 },
  };
}

interface PostOptions {
  path?: string;
  headersTimeout?: number;
  bodyTimeout?: number;
}

function post(receiver: FaultReceiver, events: EventInput | EventInput[], options: PostOptions = {}) {
  const batch = Array.isArray(events);
  const body = JSON.stringify(batch ? events.map(cloudEvent) : cloudEvent(events));
  return request(`${receiver.url}${options.path ?? '/deliver'}`, {
    dispatcher: agent,
    method: 'POST',
    body,
    headers: {
      'content-type': batch ? CLOUD_EVENT_BATCH_TYPE : CLOUD_EVENT_TYPE,
      'idempotency-key': batch ? (events[0]?.id ?? '') : events.id,
    },
    headersTimeout: options.headersTimeout ?? 5_000,
    bodyTimeout: options.bodyTimeout ?? 5_000,
  });
}

async function postAndRead(receiver: FaultReceiver, events: EventInput | EventInput[], options?: PostOptions) {
  const response = await post(receiver, events, options);
  const text = await response.body.text();
  return { status: response.statusCode, headers: response.headers, text };
}

describe('createFaultReceiver: answering', () => {
  it('answers ok by default and records the event, its timing and the acceptance', async () => {
    const receiver = await start();
    const before = receiver.now();
    const { status } = await postAndRead(receiver, { id: 'm1', subject: 'k1', sequence: 7, attempt: 2 });
    expect(status).toBe(200);
    await receiver.waitFor((r) => r.inFlight().length === 0);
    const [record] = receiver.records();
    expect(record).toMatchObject({
      method: 'POST',
      path: '/deliver',
      target: '/deliver',
      idempotencyKey: 'm1',
      contentType: CLOUD_EVENT_TYPE,
      outcome: 'answered',
      status: 200,
      fault: { kind: 'ok' },
    });
    expect(record?.events).toEqual([expect.objectContaining({ id: 'm1', key: 'k1', sequence: 7, attempt: 2 })]);
    expect(record?.startedAt).toBeGreaterThanOrEqual(before);
    expect(record?.endedAt).toBeGreaterThanOrEqual(record?.startedAt ?? Infinity);
    expect(receiver.acceptedIds()).toEqual(['m1']);
    expect(receiver.acceptCounts('/deliver').get('m1')).toBe(1);
  });

  it('treats a batch as one request carrying its events in order', async () => {
    const receiver = await start();
    await postAndRead(receiver, [{ id: 'a', sequence: 1 }, { id: 'b', sequence: 2 }]);
    await receiver.waitFor((r) => r.acceptedIds().length === 2);
    expect(receiver.records()).toHaveLength(1);
    expect(receiver.deliveries().map((d) => [d.id, d.sequence, d.request, d.outcome])).toEqual([
      ['a', 1, 0, 'ok'],
      ['b', 2, 0, 'ok'],
    ]);
  });

  it('answers a chosen status and does not count it as accepted', async () => {
    const receiver = await start({ decide: forIds(['bad'], { kind: 'status', status: 400 }) });
    expect((await postAndRead(receiver, { id: 'bad' })).status).toBe(400);
    expect((await postAndRead(receiver, { id: 'good' })).status).toBe(200);
    await receiver.waitFor((r) => r.inFlight().length === 0);
    expect(receiver.acceptedIds()).toEqual(['good']);
    expect(receiver.records().map((r) => r.status)).toEqual([400, 200]);
  });

  it('sends Retry-After in seconds or as an HTTP date', async () => {
    const date = new Date(Date.UTC(2030, 0, 2, 3, 4, 5));
    const receiver = await start({ decide: firstAttempts(1, { kind: 'retryAfter', after: 3 }) });
    const seconds = await postAndRead(receiver, { id: 'm1' });
    expect(seconds.status).toBe(429);
    expect(seconds.headers['retry-after']).toBe('3');
    receiver.setDecider(() => ({ kind: 'retryAfter', after: date, status: 503 }));
    const httpDate = await postAndRead(receiver, { id: 'm1' });
    expect(httpDate.status).toBe(503);
    expect(httpDate.headers['retry-after']).toBe('Wed, 02 Jan 2030 03:04:05 GMT');
  });

  it('answers 500 and keeps the error when the decider throws', async () => {
    const receiver = await start({
      decide: () => {
        throw new Error('boom');
      },
    });
    expect((await postAndRead(receiver, { id: 'm1' })).status).toBe(500);
    await receiver.waitFor((r) => r.inFlight().length === 0);
    expect(receiver.records()[0]?.decideError).toBe('boom');
  });

  it('records a body that is not CloudEvents under its Idempotency-Key', async () => {
    const receiver = await start();
    const response = await request(`${receiver.url}/raw`, {
      dispatcher: agent,
      method: 'POST',
      body: 'not json',
      headers: { 'idempotency-key': 'm9', 'content-type': 'text/plain' },
    });
    await response.body.text();
    await receiver.waitFor((r) => r.acceptedIds().includes('m9'));
    expect(receiver.records()[0]?.parseError).toMatch(/not JSON/);
  });
});

describe('createFaultReceiver: broken connections', () => {
  it('resets the connection: the client gets a socket error', async () => {
    const receiver = await start({ decide: () => ({ kind: 'reset' }) });
    const error: unknown = await post(receiver, { id: 'm1' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    expect((error as { code?: string }).code).toMatch(/^(ECONNRESET|UND_ERR_SOCKET)$/);
    await receiver.waitFor((r) => r.inFlight().length === 0);
    expect(receiver.records()[0]).toMatchObject({ outcome: 'reset', fault: { kind: 'reset' } });
    expect(receiver.acceptedIds()).toEqual([]);
  });

  it('hangs until the client times out, then records the request as aborted', async () => {
    const receiver = await start({ decide: () => ({ kind: 'hang' }) });
    const started = performance.now();
    const error: unknown = await post(receiver, { id: 'm1' }, { headersTimeout: 150 }).catch((e: unknown) => e);
    expect((error as { code?: string }).code).toBe('UND_ERR_HEADERS_TIMEOUT');
    expect(performance.now() - started).toBeGreaterThanOrEqual(140);
    await receiver.waitFor((r) => r.records()[0]?.outcome === 'aborted');
    const [record] = receiver.records();
    expect(record?.endedAt).toBeDefined();
    expect(receiver.inFlight()).toEqual([]);
  });

  it('closes hung requests on close and records them as hung', async () => {
    const receiver = await start({ decide: () => ({ kind: 'hang' }) });
    const pending = post(receiver, { id: 'm1' }, { headersTimeout: 60_000 }).catch((e: unknown) => e);
    await receiver.waitFor((r) => r.inFlight().some((record) => record.fault?.kind === 'hang'));
    await receiver.close();
    expect(await pending).toBeInstanceOf(Error);
    expect(receiver.records()[0]?.outcome).toBe('hung');
    expect(receiver.inFlight()).toEqual([]);
  });

  it('clears its timers when it closes mid-answer', async () => {
    const setSpy = vi.spyOn(globalThis, 'setTimeout');
    const clearSpy = vi.spyOn(globalThis, 'clearTimeout');
    const intervalMs = 30_011; // distinctive, so the receiver's timer is told apart from the client's
    const receiver = await start({ decide: () => ({ kind: 'slowBody', intervalMs, body: 'abc' }) });
    const response = await post(receiver, { id: 'm1' }, { bodyTimeout: 60_000 });
    const body = response.body.text().catch((e: unknown) => e);
    const timers = setSpy.mock.calls.flatMap((call, i) => (call[1] === intervalMs ? [setSpy.mock.results[i]?.value] : []));
    expect(timers).toHaveLength(1);
    await receiver.close();
    expect(clearSpy).toHaveBeenCalledWith(timers[0]);
    expect(await body).toBeInstanceOf(Error);
  });
});

describe('createFaultReceiver: slow answers', () => {
  it('dribbles the body after sending the headers', async () => {
    const receiver = await start({ decide: () => ({ kind: 'slowBody', intervalMs: 25, body: 'hello', chunkBytes: 2 }) });
    const started = performance.now();
    const response = await post(receiver, { id: 'm1' });
    const headersAt = performance.now() - started;
    const text = await response.body.text();
    const bodyAt = performance.now() - started;
    expect(text).toBe('hello');
    expect(headersAt).toBeLessThan(bodyAt);
    expect(bodyAt).toBeGreaterThanOrEqual(3 * 25 - 5); // 3 chunks of 2 bytes
    await receiver.waitFor((r) => r.acceptedIds().includes('m1'));
  });

  it('a client body timeout cuts a slow body: aborted, not accepted', async () => {
    // undici checks its timeouts on a coarse tick (about half a second), hence the long interval.
    const receiver = await start({ decide: () => ({ kind: 'slowBody', intervalMs: 5_000, body: 'xyz' }) });
    const response = await post(receiver, { id: 'm1' }, { bodyTimeout: 50 });
    expect(await response.body.text().catch((e: unknown) => e)).toBeInstanceOf(Error);
    await receiver.waitFor((r) => r.records()[0]?.outcome === 'aborted');
    expect(receiver.acceptedIds()).toEqual([]);
  });

  it('delays the headers for slowHeaders, then answers the chosen status', async () => {
    const receiver = await start({ decide: () => ({ kind: 'slowHeaders', ms: 60, status: 503 }) });
    const started = performance.now();
    const { status } = await postAndRead(receiver, { id: 'm1' });
    expect(status).toBe(503);
    expect(performance.now() - started).toBeGreaterThanOrEqual(55);
  });

  it('draws random latencies from a range', async () => {
    const durations = async (seed: number): Promise<number[]> => {
      const receiver = await start({ seed, decide: () => ({ kind: 'delay', ms: { min: 5, max: 40 } }) });
      for (let i = 0; i < 5; i++) await postAndRead(receiver, { id: `m${i}` });
      await receiver.waitFor((r) => r.acceptedIds().length === 5);
      return receiver.records().map((r) => (r.endedAt ?? 0) - r.startedAt);
    };
    const first = await durations(42);
    for (const d of first) expect(d).toBeGreaterThanOrEqual(4);
    expect(Math.max(...first)).toBeLessThan(1_000);
    expect(new Set(first.map((d) => Math.round(d / 5))).size).toBeGreaterThan(1);
  });

  it('adds the receiver-wide latency before every answer', async () => {
    const receiver = await start({ latencyMs: 40 });
    const started = performance.now();
    await postAndRead(receiver, { id: 'm1' });
    expect(performance.now() - started).toBeGreaterThanOrEqual(35);
  });
});

describe('createFaultReceiver: bookkeeping', () => {
  it('waitFor resolves on an event, times out with a description, and rejects on close', async () => {
    const receiver = await start();
    const three = receiver.waitFor((r) => r.acceptedIds().length === 3);
    await Promise.all(['a', 'b', 'c'].map((id) => postAndRead(receiver, { id })));
    await expect(three).resolves.toBeUndefined();
    await expect(receiver.waitFor(() => false, { timeoutMs: 20, description: 'never' })).rejects.toThrow(
      /timed out after 20 ms waiting for never: 3 requests/,
    );
    const forever = receiver.waitFor(() => false);
    await receiver.close();
    await expect(forever).rejects.toThrow(/closed/);
  });

  it('counts 2xx answers per id: applied once, or duplicated', async () => {
    const receiver = await start({ decide: firstAttempts(1, { kind: 'status', status: 500 }, { ids: ['b'] }) });
    for (const id of ['a', 'a', 'b', 'b']) await postAndRead(receiver, { id });
    await receiver.waitFor((r) => r.inFlight().length === 0);
    const applied = receiver.applied('/deliver');
    expect(applied.count('a')).toBe(2);
    expect(applied.appliedOnce('b')).toBe(true);
    expect(applied.duplicates()).toEqual(['a']);
    expect(receiver.applied('/elsewhere').size).toBe(0);
  });

  it('records overlapping requests of one key under exclusive: key', async () => {
    const receiver = await start({ exclusive: 'key', decide: () => ({ kind: 'delay', ms: 50 }) });
    await Promise.all([
      postAndRead(receiver, { id: 'a1', subject: 'a' }),
      postAndRead(receiver, { id: 'a2', subject: 'a' }),
      postAndRead(receiver, { id: 'b1', subject: 'b' }),
    ]);
    await postAndRead(receiver, { id: 'a3', subject: 'a' });
    expect(receiver.overlaps()).toEqual([expect.objectContaining({ target: '/deliver', key: 'a' })]);
  });

  it('records overlapping requests of one target under exclusive: target', async () => {
    const receiver = await start({ exclusive: 'target', decide: () => ({ kind: 'delay', ms: 30 }) });
    await postAndRead(receiver, { id: 'x', subject: 'a' });
    await postAndRead(receiver, { id: 'y', subject: 'b' });
    expect(receiver.overlaps()).toEqual([]);
    await Promise.all([postAndRead(receiver, { id: 'z', subject: 'c' }), postAndRead(receiver, { id: 'w', subject: 'd' })]);
    expect(receiver.overlaps()).toHaveLength(1);
  });

  it('turns its records into deliveries the history checker accepts', async () => {
    const receiver = await start({ decide: firstAttempts(1, { kind: 'status', status: 503 }) });
    for (const [id, sequence] of [['e1', 1], ['e2', 2]] as const) {
      await postAndRead(receiver, { id, sequence, subject: 'k' });
      await postAndRead(receiver, { id, sequence, subject: 'k', attempt: 2 });
    }
    const report = checkHistory({
      accepted: [
        { id: 'e1', channel: 'events', sequence: 1 },
        { id: 'e2', channel: 'events', sequence: 2 },
      ],
      targets: [{ target: '/deliver', channel: 'events', ordering: 'topic' }],
      deliveries: receiver.deliveries(),
    });
    expect(report.summary()).toMatch(/^history ok/);
    expect(report.stats).toMatchObject({ deliveries: 4, acknowledged: 2 });
  });
});
