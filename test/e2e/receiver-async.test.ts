import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { createClient, OffloadApiError } from '../../src/client/index.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { appliedThrough, createReceiver, type DeliveryContext, type ReceivedEvent } from '../../src/receiver/index.js';
import { mountReceivers } from '../support/framework-servers.js';
import { get, post, startOffload } from '../support/offload.js';
import { dropSchema, postgresAvailable, TEST_PG_URL, testSchema } from '../support/postgres.js';
import { testDir } from '../support/temp.js';

const SECRET = 'async-end-to-end-secret';
const pgUp = await postgresAvailable();

/** A receiver that defers the events `deferIf` picks (keeping their tokens) and applies the others at once. */
async function deferringReceiver(deferIf: (event: ReceivedEvent, ctx: DeliveryContext<undefined>) => boolean) {
  const calls: Array<{ id: string; attempt: number; deferred: boolean }> = [];
  const tokens = new Map<string, string>();
  const receiver = createReceiver({
    secrets: SECRET,
    onError: () => {},
    handlers: {
      '*': (event, ctx) => {
        const deferred = deferIf(event, ctx);
        calls.push({ id: event.id, attempt: ctx.attempt, deferred });
        if (deferred) tokens.set(event.id, ctx.defer());
      },
    },
  });
  const mounted = await mountReceivers('fetch', { '/work': receiver });
  return { url: mounted.url, calls, tokens };
}

function storageOf(db: 'SQLite' | 'PostgreSQL'): ConfigInput['storage'] {
  if (db === 'SQLite') return { sqlite: { path: join(testDir(), 'offload.db') } };
  const schema = testSchema();
  onTestFinished(() => dropSchema(schema));
  return { postgres: { url: TEST_PG_URL, schema, poolSize: 4 } };
}

const status = async (base: string, id: string) => (await get(base, `/v1/messages/${id}`)).body.status as string;
const attempts = async (base: string, id: string) => (await get(base, `/v1/messages/${id}`)).body.deliveries[0].history as Array<{ attempt: number; statusCode: number | null; error: string | null }>;

async function conflict(work: Promise<unknown>): Promise<string | undefined> {
  try {
    await work;
    return undefined;
  } catch (error) {
    expect(error).toBeInstanceOf(OffloadApiError);
    expect((error as OffloadApiError).status).toBe(409);
    return (error as OffloadApiError).problem?.type;
  }
}

describe.each(['SQLite', 'PostgreSQL'] as const)('asynchronous acknowledgement from a real Offload on %s', (db) => {
  it.skipIf(db === 'PostgreSQL' && !pgUp)('a 202 keeps the delivery in flight and its key blocked until completed; a failed completion retries it', async () => {
    const app = await deferringReceiver((event, ctx) => event.id === 'k1' && ctx.attempt === 1);
    const offload = await startOffload({
      storage: storageOf(db),
      delivery: { pollInterval: '100ms' },
      endpoints: { app: { url: app.url, secret: SECRET } },
      queues: { steps: { preset: 'aggregate-fifo', endpoint: 'app', path: '/work', asyncTimeout: '10m', minBackoff: '10ms', maxBackoff: '50ms' } },
    });
    const client = createClient({ url: offload.url });
    for (const [id, key] of [['k1', 'k'], ['k2', 'k']]) expect((await post(offload.url, '/v1/queues/steps/messages', { id, key, data: {} })).status).toBe(202);
    await expect.poll(() => app.tokens.get('k1'), { timeout: 10_000 }).toBeDefined();
    // Another key goes on while k is held: once j1 is delivered, k2 has had every chance to be sent.
    expect((await post(offload.url, '/v1/queues/steps/messages', { id: 'j1', key: 'j', data: {} })).status).toBe(202);
    await expect.poll(() => status(offload.url, 'j1'), { timeout: 10_000 }).toBe('delivered');
    expect(await status(offload.url, 'k1')).toBe('delivering');
    expect(app.calls.map((c) => c.id).filter((id) => id !== 'j1')).toEqual(['k1']);

    const token = app.tokens.get('k1')!;
    const completed = await client.complete(token, { outcome: 'retry', reason: 'the export service is busy', retryAfter: 0 });
    expect(completed).toMatchObject({ status: 'completed', target: 'steps', lane: 'k', outcomes: [{ outcome: 'retrying', ids: ['k1'] }] });
    await expect.poll(() => status(offload.url, 'k2'), { timeout: 10_000 }).toBe('delivered');
    expect(app.calls.map((c) => [c.id, c.attempt]).filter(([id]) => id !== 'j1')).toEqual([['k1', 1], ['k1', 2], ['k2', 1]]);
    expect(await attempts(offload.url, 'k1')).toMatchObject([
      { attempt: 1, statusCode: 202, error: 'completed as failed: the export service is busy' },
      { attempt: 2, statusCode: 200, error: null },
    ]);
    // A later attempt took the delivery on: the old token changes nothing.
    expect(await conflict(client.complete(token, { outcome: 'permanent', reason: 'too late' }))).toBe('urn:offload:problem:superseded');
    expect(await status(offload.url, 'k1')).toBe('delivered');
  });

  it.skipIf(db === 'PostgreSQL' && !pgUp)('a deferred delivery survives a restart: the next Offload on the same store accepts its completion', async () => {
    const app = await deferringReceiver(() => true);
    const storage = storageOf(db);
    const config = {
      storage,
      delivery: { pollInterval: '100ms' },
      endpoints: { app: { url: app.url, secret: SECRET } },
      queues: { jobs: { preset: 'ancillary' as const, endpoint: 'app', path: '/work', asyncTimeout: '10m' } },
    };
    const first = await startOffload(config);
    expect((await post(first.url, '/v1/queues/jobs/messages', { id: 'm1', data: {} })).status).toBe(202);
    await expect.poll(() => app.tokens.get('m1'), { timeout: 10_000 }).toBeDefined();
    await first.cleanup();

    const second = await startOffload(config);
    expect(await status(second.url, 'm1')).toBe('delivering');
    const client = createClient({ url: second.url });
    const result = await client.complete(app.tokens.get('m1')!, { outcome: 'delivered' });
    expect(result.outcomes).toEqual([{ outcome: 'delivered', ids: ['m1'] }]);
    expect(await status(second.url, 'm1')).toBe('delivered');
    // The same completion again (a retry after a lost answer): settled already, nothing changes.
    expect(await conflict(client.complete(app.tokens.get('m1')!, { outcome: 'retry' }))).toBe('urn:offload:problem:already_completed');
    expect(app.calls).toEqual([{ id: 'm1', attempt: 1, deferred: true }]);
  });
  it.skipIf(db === 'PostgreSQL' && !pgUp)('repeats of one completion sent at once: one settles it, each other is told already_completed, one attempt is recorded', async () => {
    const app = await deferringReceiver(() => true);
    const offload = await startOffload({
      storage: storageOf(db),
      endpoints: { app: { url: app.url, secret: SECRET } },
      queues: { jobs: { preset: 'ancillary', endpoint: 'app', path: '/work', asyncTimeout: '10m' } },
    });
    const ids = ['r1', 'r2', 'r3', 'r4', 'r5'];
    for (const id of ids) expect((await post(offload.url, '/v1/queues/jobs/messages', { id, data: {} })).status).toBe(202);
    await expect.poll(() => app.tokens.size, { timeout: 10_000 }).toBe(ids.length);
    await expectRepeatsAgree(ids.map((id) => app.tokens.get(id)!), [offload.url]);
    for (const id of ids) expect(await attempts(offload.url, id)).toEqual([expect.objectContaining({ attempt: 1, statusCode: 202, error: null })]);
  });
});

/** Four identical completions of each token at once, spread over `urls`: one 200 per token, the rest 409 already_completed. */
async function expectRepeatsAgree(tokens: string[], urls: string[]): Promise<void> {
  const answers = await Promise.all(tokens.flatMap((token) => [0, 1, 2, 3].map(async (n) => {
    const type = await conflict(createClient({ url: urls[n % urls.length]! }).complete(token, { outcome: 'delivered' }));
    return { token, type: type ?? 'completed' };
  })));
  for (const token of tokens) {
    expect(answers.filter((a) => a.token === token).map((a) => a.type).sort()).toEqual([
      'completed', 'urn:offload:problem:already_completed', 'urn:offload:problem:already_completed', 'urn:offload:problem:already_completed',
    ]);
  }
}

describe.runIf(pgUp)('asynchronous acknowledgement with two Offload instances on one PostgreSQL schema', () => {
  it('either instance accepts the completion, and a deadline is timed out once, by one of them', async () => {
    const app = await deferringReceiver((event, ctx) => event.id === 'late' ? ctx.attempt === 1 : true);
    const config = {
      storage: storageOf('PostgreSQL'),
      delivery: { pollInterval: '50ms' },
      endpoints: { app: { url: app.url, secret: SECRET } },
      queues: {
        jobs: { preset: 'ancillary' as const, endpoint: 'app', path: '/work', asyncTimeout: '10m' },
        quick: { preset: 'ancillary' as const, endpoint: 'app', path: '/work', asyncTimeout: '1s', minBackoff: '10ms', maxBackoff: '50ms' },
      },
    };
    const [a, b] = [await startOffload(config), await startOffload(config)];
    for (const id of ['j1', 'j2']) expect((await post(a.url, '/v1/queues/jobs/messages', { id, data: {} })).status).toBe(202);
    expect((await post(b.url, '/v1/queues/quick/messages', { id: 'late', data: {} })).status).toBe(202);
    await expect.poll(() => app.tokens.size, { timeout: 10_000 }).toBe(3);
    // Each completion through a different instance than the other.
    expect((await createClient({ url: b.url }).complete(app.tokens.get('j1')!, { outcome: 'delivered' })).outcomes[0]!.outcome).toBe('delivered');
    expect((await createClient({ url: a.url }).complete(app.tokens.get('j2')!, { outcome: 'delivered' })).outcomes[0]!.outcome).toBe('delivered');
    expect([await status(a.url, 'j1'), await status(b.url, 'j2')]).toEqual(['delivered', 'delivered']);
    await expect.poll(() => status(a.url, 'late'), { timeout: 15_000 }).toBe('delivered');
    const history = await attempts(b.url, 'late');
    // Taken over by one instance: no second timeout record, no fenced one.
    expect(history.map((h) => [h.attempt, h.error, (h as { fenced?: boolean }).fenced ?? false])).toEqual([[1, 'asynchronous completion timed out', false], [2, null, false]]);
    expect(app.calls.filter((c) => c.id === 'late').map((c) => c.attempt)).toEqual([1, 2]);
  });

  it('repeats of one completion sent at once through both instances: one settles it, the rest are told already_completed', async () => {
    const app = await deferringReceiver(() => true);
    const config = {
      storage: storageOf('PostgreSQL'),
      endpoints: { app: { url: app.url, secret: SECRET } },
      queues: { jobs: { preset: 'ancillary' as const, endpoint: 'app', path: '/work', asyncTimeout: '10m' } },
    };
    const [a, b] = [await startOffload(config), await startOffload(config)];
    const ids = Array.from({ length: 10 }, (_, i) => `c${i}`);
    for (const id of ids) expect((await post(a.url, '/v1/queues/jobs/messages', { id, data: {} })).status).toBe(202);
    await expect.poll(() => app.tokens.size, { timeout: 10_000 }).toBe(ids.length);
    await expectRepeatsAgree(ids.map((id) => app.tokens.get(id)!), [a.url, b.url]);
    for (const id of ids) expect(await attempts(b.url, id)).toEqual([expect.objectContaining({ attempt: 1, statusCode: 202, error: null })]);
  });
});

describe('asynchronous acknowledgement that never comes', () => {
  it('times out: the attempt fails, is retried by the policy, and the late completion is refused', async () => {
    const app = await deferringReceiver((_event, ctx) => ctx.attempt === 1);
    const offload = await startOffload({
      delivery: { pollInterval: '50ms' },
      endpoints: { app: { url: app.url, secret: SECRET } },
      queues: { jobs: { preset: 'ancillary', endpoint: 'app', path: '/work', asyncTimeout: '1s', minBackoff: '10ms', maxBackoff: '50ms' } },
    });
    expect((await post(offload.url, '/v1/queues/jobs/messages', { id: 'm1', data: {} })).status).toBe(202);
    await expect.poll(() => status(offload.url, 'm1'), { timeout: 15_000 }).toBe('delivered');
    expect(await attempts(offload.url, 'm1')).toMatchObject([
      { attempt: 1, statusCode: 202, error: 'asynchronous completion timed out' },
      { attempt: 2, statusCode: 200, error: null },
    ]);
    const late = createClient({ url: offload.url }).complete(app.tokens.get('m1')!, { outcome: 'delivered' });
    expect(await conflict(late)).toBe('urn:offload:problem:superseded');
  });

  it('a deadline that passes while Offload is down fails the attempt at the next start, which retries it', async () => {
    const app = await deferringReceiver((_event, ctx) => ctx.attempt === 1);
    const config = {
      storage: storageOf('SQLite'),
      delivery: { pollInterval: '50ms' },
      endpoints: { app: { url: app.url, secret: SECRET } },
      queues: { jobs: { preset: 'ancillary' as const, endpoint: 'app', path: '/work', asyncTimeout: '1s', minBackoff: '10ms', maxBackoff: '50ms' } },
    };
    const first = await startOffload(config);
    expect((await post(first.url, '/v1/queues/jobs/messages', { id: 'm1', data: {} })).status).toBe(202);
    await expect.poll(() => app.tokens.get('m1'), { timeout: 10_000 }).toBeDefined();
    await first.cleanup();
    const second = await startOffload(config);
    await expect.poll(() => status(second.url, 'm1'), { timeout: 15_000 }).toBe('delivered');
    expect((await attempts(second.url, 'm1')).map((a) => a.error)).toEqual(['asynchronous completion timed out', null]);
  });

  it('a 202 from a target without asyncTimeout is a success like any 2xx, and no token is sent', async () => {
    const seen: Array<string | undefined> = [];
    const mounted = await mountReceivers('fetch', {
      '/work': createReceiver({ secrets: SECRET, handlers: { '*': (_event, ctx) => void seen.push(ctx.header('offload-completion-token')) } }),
    });
    const offload = await startOffload({
      endpoints: { app: { url: mounted.url, secret: SECRET } },
      queues: { jobs: { preset: 'ancillary', endpoint: 'app', path: '/work' } },
    });
    expect((await post(offload.url, '/v1/queues/jobs/messages', { id: 'm1', data: {} })).status).toBe(202);
    await expect.poll(() => status(offload.url, 'm1'), { timeout: 10_000 }).toBe('delivered');
    expect(seen).toEqual([undefined]);
  });
});

describe('partial acknowledgement with a 2xx from the receiver SDK', () => {
  it('a batch handler that stops with appliedThrough has the prefix delivered and the rest sent again without counting an attempt', async () => {
    const calls: Array<Array<[string, number]>> = [];
    let stopped = false;
    const receiver = createReceiver({
      secrets: SECRET,
      handlers: {
        '*': (event, ctx) => {
          if (ctx.batch.index === 0) calls.push([]);
          calls[calls.length - 1]!.push([event.id, ctx.attempt]);
          // Takes two events of the first batch, then stops: enough for this call.
          if (event.id === 'e2' && !stopped) {
            stopped = true;
            return appliedThrough('e2');
          }
          return undefined;
        },
      },
    });
    const mounted = await mountReceivers('fetch', { '/work': receiver });
    const offload = await startOffload({
      endpoints: { app: { url: mounted.url, secret: SECRET } },
      topics: { events: { subscriptions: { model: { preset: 'domain-events', endpoint: 'app', path: '/work', ordering: 'topic', batchSize: 3 } } } },
    });
    const published = await post(offload.url, '/v1/topics/events/messages/batch', { messages: ['e1', 'e2', 'e3', 'e4'].map((id) => ({ id, data: {} })) });
    expect(published.status).toBe(202);
    await expect.poll(() => status(offload.url, 'e4'), { timeout: 10_000 }).toBe('delivered');
    expect(calls).toEqual([
      [['e1', 1], ['e2', 1]],
      [['e3', 1], ['e4', 1]],
    ]);
    expect((await attempts(offload.url, 'e3')).map((a) => a.statusCode)).toEqual([200]);
  });
});
