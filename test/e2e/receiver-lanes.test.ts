import Database from 'better-sqlite3';
import { join } from 'node:path';
import pg from 'pg';
import { describe, expect, it, onTestFinished } from 'vitest';
import { createReceiver, postgresInbox, sqliteInbox, type DeliveryContext, type Inbox, type ReceivedEvent } from '../../src/receiver/index.js';
import { mountReceivers } from '../support/framework-servers.js';
import { get, post, startOffload } from '../support/offload.js';
import { dropSchema, postgresAvailable, TEST_PG_URL, testSchema } from '../support/postgres.js';
import { testDir } from '../support/temp.js';

const SECRET = 'lane-end-to-end-secret';
const pgUp = await postgresAvailable();

async function inboxOn(db: 'SQLite' | 'PostgreSQL'): Promise<Inbox<unknown>> {
  if (db === 'SQLite') {
    const sqlite = new Database(join(testDir(), 'receiver.db'));
    onTestFinished(() => void sqlite.close());
    return sqliteInbox(sqlite) as Inbox<unknown>;
  }
  const schema = testSchema();
  const pool = new pg.Pool({ connectionString: TEST_PG_URL, max: 2 });
  await pool.query(`CREATE SCHEMA "${schema}"`);
  onTestFinished(async () => {
    await pool.end();
    await dropSchema(schema);
  });
  return postgresInbox(pool, { table: `${schema}.inbox` }) as Inbox<unknown>;
}

describe.each(['SQLite', 'PostgreSQL'] as const)('lane positions from a real Offload on %s', (db) => {
  it.skipIf(db === 'PostgreSQL' && !pgUp)('numbers each lane gap-free, repeats keep their number, and an in-order receiver applies every event once', async () => {
    const calls: Array<{ target: string; id: string; lane: string; position: number; previous: string | null; header: string | undefined; attempt: number }> = [];
    let failedOnce = false;
    const handle = (event: ReceivedEvent, ctx: DeliveryContext<unknown>) => {
      calls.push({ target: event.source, id: event.id, lane: ctx.lane!.key, position: ctx.lane!.position, previous: ctx.lane!.previousId, header: ctx.header('offload-lane-position'), attempt: ctx.attempt });
      if (event.id === 'k2' && !failedOnce) {
        failedOnce = true;
        throw new Error('first attempt of k2 fails');
      }
    };
    const receiver = createReceiver({ secrets: SECRET, inbox: await inboxOn(db), inOrder: true, handlers: { '*': handle }, onError: () => {} });
    const mounted = await mountReceivers('fetch', { '/work': receiver });
    const schema = testSchema();
    if (db === 'PostgreSQL') onTestFinished(() => dropSchema(schema));
    const backoff = { minBackoff: '10ms', maxBackoff: '50ms' };
    const offload = await startOffload({
      ...(db === 'PostgreSQL' ? { storage: { postgres: { url: TEST_PG_URL, schema } } } : {}),
      endpoints: { app: { url: mounted.url, secret: SECRET } },
      queues: { steps: { preset: 'aggregate-fifo', endpoint: 'app', path: '/work', ...backoff } },
      topics: { events: { subscriptions: { model: { preset: 'domain-events', endpoint: 'app', path: '/work', ordering: 'topic', batchSize: 3, ...backoff } } } },
    });
    for (const [id, key] of [['k1', 'k'], ['k2', 'k'], ['j1', 'j'], ['k3', 'k']]) {
      expect((await post(offload.url, '/v1/queues/steps/messages', { id, key, data: {} })).status).toBe(202);
    }
    const published = await post(offload.url, '/v1/topics/events/messages/batch', { messages: ['e1', 'e2', 'e3', 'e4'].map((id) => ({ id, key: `order-${id}`, data: {} })) });
    expect(published.status).toBe(202);
    for (const id of ['k3', 'j1', 'e4']) {
      await expect.poll(async () => (await get(offload.url, `/v1/messages/${id}`)).body.status, { timeout: 15_000 }).toBe('delivered');
    }
    const steps = calls.filter((c) => c.target === '/offload/steps').map(({ id, lane, position, previous, header, attempt }) => [id, lane, position, previous, header, attempt]);
    expect(steps.filter((s) => s[1] === 'k')).toEqual([
      ['k1', 'k', 1, null, '1', 1],
      ['k2', 'k', 2, 'k1', '2', 1],
      ['k2', 'k', 2, 'k1', '2', 2],
      ['k3', 'k', 3, 'k2', '3', 1],
    ]);
    expect(steps.filter((s) => s[1] === 'j')).toEqual([['j1', 'j', 1, null, '1', 1]]);
    // One lane for the topic-ordered subscription, whatever the keys; a batch numbers each event.
    const events = calls.filter((c) => c.target === '/offload/events');
    expect(events.map((c) => [c.id, c.lane, c.position, c.previous])).toEqual([
      ['e1', '', 1, null], ['e2', '', 2, 'e1'], ['e3', '', 3, 'e2'], ['e4', '', 4, 'e3'],
    ]);
    expect(events[0]!.header).toBe('1');
  });
});

describe('partial acknowledgement of ordered batches, from a real Offload', () => {
  it('a failed batch answered with appliedThrough is delivered up to that event and retried from the next', async () => {
    const calls: string[][] = [];
    let failed = false;
    const receiver = createReceiver({
      secrets: SECRET,
      handlers: {
        '*': (event, ctx) => {
          if (ctx.batch.index === 0) calls.push([]);
          calls.at(-1)!.push(event.id);
          if (event.id === 'e3' && !failed) {
            failed = true;
            throw new Error('e3 fails once');
          }
        },
      },
      onError: () => {},
    });
    // A second endpoint applies at most two events per call and says so with a 200.
    const stepwise: string[][] = [];
    const mounted = await mountReceivers('fetch', {
      '/work': receiver,
      '/steps': {
        maxBodyBytes: 1 << 20,
        handle: () => Promise.reject(new Error('unused')),
        async fetch(request: Request) {
          const events = (await request.json()) as Array<{ id: string }>;
          stepwise.push(events.map((e) => e.id));
          const through = events[Math.min(1, events.length - 1)]!.id;
          return new Response(JSON.stringify({ appliedThrough: through }), { status: 200, headers: { 'content-type': 'application/json' } });
        },
      },
    });
    const subscription = { preset: 'domain-events', endpoint: 'app', ordering: 'topic', batchSize: 4, minBackoff: '10ms', maxBackoff: '50ms', stallAfterAttempts: 3 } as const;
    const offload = await startOffload({
      endpoints: { app: { url: mounted.url, secret: SECRET } },
      topics: { events: { subscriptions: { model: { ...subscription, path: '/work' }, steps: { ...subscription, path: '/steps' } } } },
    });
    const ids = ['e1', 'e2', 'e3', 'e4', 'e5', 'e6', 'e7'];
    expect((await post(offload.url, '/v1/topics/events/messages/batch', { messages: ids.map((id) => ({ id, data: {} })) })).status).toBe(202);
    for (const sub of ['model', 'steps']) {
      await expect.poll(async () => (await get(offload.url, '/v1/messages/e7')).body.deliveries.find((d: { target: string }) => d.target === `events/${sub}`)?.status, { timeout: 15_000 }).toBe('delivered');
    }
    expect(calls).toEqual([['e1', 'e2', 'e3'], ['e3', 'e4', 'e5', 'e6'], ['e7']]);
    const e1 = (await get(offload.url, '/v1/messages/e1')).body.deliveries.find((d: { target: string }) => d.target === 'events/model');
    expect(e1.history).toHaveLength(1);
    const e3 = (await get(offload.url, '/v1/messages/e3')).body.deliveries.find((d: { target: string }) => d.target === 'events/model');
    expect(e3.history.map((a: { statusCode: number }) => a.statusCode)).toEqual([500, 200]);
    // Two at a time, each call from where the last one stopped; the rest of a batch answered 200
    // goes back untried: e5 was sent twice and delivered on its first counted attempt.
    expect(stepwise).toEqual([['e1', 'e2', 'e3', 'e4'], ['e3', 'e4', 'e5', 'e6'], ['e5', 'e6', 'e7'], ['e7']]);
    const e5 = (await get(offload.url, '/v1/messages/e5')).body.deliveries.find((d: { target: string }) => d.target === 'events/steps');
    expect(e5).toMatchObject({ status: 'delivered', attempts: 1 });
  });
});
