import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildConfig } from '../../src/config/load.js';
import { createServer } from '../../src/server/app.js';
import { createEventHub } from '../../src/server/event-hub.js';
import { createSqliteStore, type SqliteStore } from '../../src/storage/sqlite/sqlite-store.js';
import { tempDir } from '../support/temp.js';

describe('event stream tokens over HTTP', () => {
  const dir = tempDir();
  const config = buildConfig(
    {
      server: { apiKeys: [{ key: 'op', role: 'operator' }, { key: 'view', role: 'viewer' }, { key: 'prod', role: 'producer', channels: ['audits'] }] },
      endpoints: { sink: { url: 'http://127.0.0.1:9' } },
      queues: { audits: { endpoint: 'sink' } },
    },
    { env: {} },
  );
  let store: SqliteStore;
  let app: FastifyInstance;
  let base: string;
  let now = Date.now();

  beforeAll(async () => {
    store = createSqliteStore({ path: join(dir.path, 'offload.db'), durability: 'process' });
    await store.migrate();
    await store.declare(config.channels);
    app = createServer({ config, store, wake: () => {}, events: createEventHub(), ready: () => true, now: () => now }, { logger: false });
    await app.listen({ port: 0, host: '127.0.0.1' });
    base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await app.close();
    await store.close();
    dir.cleanup();
  });

  const token = async (key: string) => fetch(`${base}/v1/events/token`, { method: 'POST', headers: { authorization: `Bearer ${key}` } });
  /** Opens the stream and closes it again at once; answers the status. */
  const stream = async (query: string) => {
    const abort = new AbortController();
    const res = await fetch(`${base}/v1/events${query}`, { signal: abort.signal });
    abort.abort();
    return res.status;
  };

  it('trades an operator or viewer key for a token the event stream accepts for one minute', async () => {
    for (const key of ['op', 'view']) {
      const res = await token(key);
      expect(res.status).toBe(200);
      const body = (await res.json()) as { token: string; expiresAt: string };
      expect(Date.parse(body.expiresAt)).toBe(now + 60_000);
      expect(await stream(`?token=${encodeURIComponent(body.token)}`)).toBe(200);
    }
    const { token: later } = (await (await token('view')).json()) as { token: string };
    now += 60_000;
    expect(await stream(`?token=${encodeURIComponent(later)}`)).toBe(401);
  });

  it('refuses a token anywhere but the stream, and producers and strangers get none', async () => {
    const { token: valid } = (await (await token('op')).json()) as { token: string };
    expect((await fetch(`${base}/v1/channels?token=${encodeURIComponent(valid)}`)).status).toBe(401);
    expect(await stream('?token=forged.token.value')).toBe(401);
    expect(await stream('')).toBe(401);
    expect((await token('prod')).status).toBe(403);
    expect((await fetch(`${base}/v1/events/token`, { method: 'POST' })).status).toBe(401);
  });
});
