import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildConfig } from '../../src/config/load.js';
import { createServer } from '../../src/server/app.js';
import { createEventHub } from '../../src/server/event-hub.js';
import { createSqliteStore, type SqliteStore } from '../../src/storage/sqlite/sqlite-store.js';
import { tempDir } from '../support/temp.js';
import { openApi, type Api } from '../support/api.js';
import { SEARCH_EXAMINES } from '../../src/storage/message-search.js';

type Listed = { items: Array<{ id: string; channel: string; key: string | null; status: string; deliveries: Array<{ target: string; status: string }> }>; next: string | null };

describe('GET /v1/messages', () => {
  const dir = tempDir();
  const config = buildConfig(
    {
      endpoints: { sink: { url: 'http://127.0.0.1:9' } },
      queues: { audits: { endpoint: 'sink' }, provisionings: { preset: 'aggregate-fifo', endpoint: 'sink' } },
      topics: { events: { subscriptions: { 'read-models': { preset: 'domain-events', endpoint: 'sink' } } } },
    },
    { env: {} },
  );
  let store: SqliteStore;
  let app: FastifyInstance;
  const get = (url: string) => app.inject({ method: 'GET', url });

  beforeAll(async () => {
    store = createSqliteStore({ path: join(dir.path, 'offload.db'), durability: 'process' });
    await store.migrate();
    await store.declare(config.channels);
    app = createServer({ config, store, wake: () => {}, events: createEventHub(), ready: () => true, now: () => Date.now() }, { logger: false });
    for (let i = 1; i <= 3; i++) {
      await app.inject({ method: 'POST', url: '/v1/queues/audits/messages', payload: { id: `a${i}`, type: 'audit.recorded', data: { i } } });
    }
    await app.inject({ method: 'POST', url: '/v1/queues/provisionings/messages', payload: { id: 'p1', key: 'tenant-7', type: 'tenant.provision', data: {} } });
    await app.inject({ method: 'POST', url: '/v1/topics/events/messages', payload: { id: 'e1', key: 'tenant-7', type: 'tenant.created', data: {} } });
  });
  afterAll(async () => {
    await app.close();
    await store.close();
    dir.cleanup();
  });

  it('answers { items, next }, newest first, and pages with the cursor', async () => {
    const first = await get('/v1/messages?channel=audits&limit=2');
    expect(first.statusCode).toBe(200);
    const page = first.json<Listed>();
    expect(page.items.map((m) => m.id)).toEqual(['a3', 'a2']);
    expect(page.items[0]).toMatchObject({ channel: 'audits', status: 'queued', deliveries: [{ target: 'audits', status: 'queued' }] });
    expect(page.items[0]).not.toHaveProperty('data');
    const rest = (await get(`/v1/messages?channel=audits&limit=2&cursor=${page.next}`)).json<Listed>();
    expect(rest).toEqual({ items: [expect.objectContaining({ id: 'a1' })], next: null });
  });

  it('filters by key, type, status, subscription and time', async () => {
    expect((await get('/v1/messages?key=tenant-7')).json<Listed>().items.map((m) => m.id)).toEqual(['e1', 'p1']);
    expect((await get('/v1/messages?type=tenant.created&status=queued')).json<Listed>().items.map((m) => m.id)).toEqual(['e1']);
    expect((await get('/v1/messages?channel=events/read-models')).json<Listed>().items.map((m) => m.id)).toEqual(['e1']);
    expect((await get('/v1/messages?status=delivered')).json<Listed>().items).toEqual([]);
    expect((await get(`/v1/messages?until=${encodeURIComponent('2000-01-01T00:00:00Z')}`)).json<Listed>().items).toEqual([]);
    expect((await get(`/v1/messages?since=${Date.now() - 60_000}&limit=200`)).json<Listed>().items).toHaveLength(5);
  });

  it.each([
    ['/v1/messages?status=queued&status=delivered', /status.*more than once/],
    ['/v1/messages?channel=nope', /channel 'nope' is not configured/],
    ['/v1/messages?status=lost', /status 'lost' is not one of/],
    ['/v1/messages?limit=0', /limit must be a whole number from 1 to 200/],
    ['/v1/messages?limit=201', /limit must be/],
    ['/v1/messages?limit=ten', /limit must be/],
    ['/v1/messages?since=yesterday', /since must be an ISO 8601 time/],
    ['/v1/messages?since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z', /until must be later than since/],
    ['/v1/messages?cursor=abc', /cursor is not one this server gave out/],
    ['/v1/messages?chanel=audits', /'chanel'/],
    ['/v1/messages?key=', /'key' must be 1 to 200 characters/],
  ])('refuses %s with a 400 that says what to fix', async (url, detail) => {
    const res = await get(url);
    expect(res.statusCode).toBe(400);
    expect(res.headers['content-type']).toContain('application/problem+json');
    expect(res.json<{ detail: string }>().detail).toMatch(detail);
  });
});

describe('GET /v1/messages over more messages than a page looks at', () => {
  let api: Api;
  const total = SEARCH_EXAMINES * 2 + 500;

  beforeAll(async () => {
    api = await openApi({ endpoints: { sink: { url: 'http://127.0.0.1:9' } }, queues: { audits: { endpoint: 'sink' } } });
    // Only the oldest message is of type 'rare'; the rest fill more than two windows above it.
    for (let i = 0; i < total; i += 1000) {
      await api.store.send('audits', Array.from({ length: Math.min(1000, total - i) }, (_, j) => ({
        id: `m${i + j}`, key: null, type: i + j === 0 ? 'rare' : 'common', data: '{}', metadata: {}, deliverAt: null,
      })));
    }
  });
  afterAll(() => api.close());

  const get = async (url: string) => {
    const res = await api.app.inject({ method: 'GET', url });
    expect(res.statusCode, res.body).toBe(200);
    return res.json<Listed>();
  };

  it('goes on past windows that found nothing, within the request', async () => {
    const page = await get('/v1/messages?type=rare');
    expect(page.items.map((m) => m.id)).toEqual(['m0']);
    expect(page.next).toBeNull();
  });

  it('a search nothing matches ends with no next page', async () => {
    expect(await get('/v1/messages?status=deadlettered')).toEqual({ items: [], next: null });
  });

  it('pages a search that matches everything by the cursor, each page full', async () => {
    const first = await get('/v1/messages?limit=200');
    expect(first.items).toHaveLength(200);
    const second = await get(`/v1/messages?limit=200&cursor=${first.next}`);
    expect(second.items[0]!.id).toBe(`m${total - 201}`);
  });
});
