import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildConfig } from '../../src/config/load.js';
import { createServer, VERSION } from '../../src/server/app.js';
import type { ServerContext } from '../../src/server/context.js';
import { createEventHub } from '../../src/server/event-hub.js';
import { messageRoutes } from '../../src/server/routes/messages.js';
import { operationRoutes } from '../../src/server/routes/operations.js';
import { drainRoutes } from '../../src/server/routes/drain.js';
import { createSqliteStore, type SqliteStore } from '../../src/storage/sqlite/sqlite-store.js';
import { TAKES } from '../../src/server/query.js';
import { tempDir } from '../support/temp.js';

type Operation = { summary?: string; parameters?: Array<{ name: string; in: string; required?: boolean }>; responses?: Record<string, unknown> };
type Document = { openapi: string; info: { title: string; version: string }; paths: Record<string, Record<string, Operation>>; components: { schemas: Record<string, { type?: string; properties?: Record<string, unknown> }> } };

const METHODS = ['get', 'post', 'put', 'patch', 'delete'];

/** `/v1/queues/:name/messages` → `/v1/queues/{name}/messages`. */
const toOpenApiPath = (url: string) => url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');

function refsIn(value: unknown, found: string[] = []): string[] {
  if (Array.isArray(value)) for (const v of value) refsIn(v, found);
  else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (k === '$ref' && typeof v === 'string') found.push(v);
      else refsIn(v, found);
    }
  }
  return found;
}

describe('GET /openapi.json', () => {
  const dir = tempDir();
  const config = buildConfig({ endpoints: { sink: { url: 'http://127.0.0.1:9' } }, queues: { audits: { endpoint: 'sink' } } }, { env: {} });
  let store: SqliteStore;
  let ctx: ServerContext;
  let app: FastifyInstance;
  let doc: Document;

  beforeAll(async () => {
    store = createSqliteStore({ path: join(dir.path, 'offload.db'), durability: 'process' });
    ctx = { config, store, wake: () => {}, events: createEventHub(), ready: () => true, now: () => Date.now() };
    app = createServer(ctx, { logger: false });
    const res = await app.inject({ method: 'GET', url: '/openapi.json' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    doc = res.json<Document>();
  });
  afterAll(async () => {
    await app.close();
    await store.close();
    dir.cleanup();
  });

  it('is an OpenAPI 3.1 document describing this version', () => {
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.info).toMatchObject({ title: 'Offload', version: VERSION });
    expect(doc.components.schemas.MessageInput?.properties).toHaveProperty('data');
    expect(doc.components.schemas.MessageInput?.properties).toMatchObject({
      priority: { type: 'integer', minimum: -100, maximum: 100 },
      expiresAt: { description: expect.stringContaining('expired') },
      ttl: { type: 'string' },
    });
    expect(doc.components.schemas.BatchInput?.properties).toHaveProperty('messages');
    expect(Object.keys(doc.components.schemas.DrainInput?.properties ?? {})).toEqual(['channels', 'timeout', 'skipBackoff', 'maxRounds']);
    expect(Object.keys(doc.components.schemas.Problem?.properties ?? {})).toEqual(expect.arrayContaining(['type', 'title', 'status', 'detail']));
  });

  it('documents the query parameters each route takes, and answers that are objects as objects', () => {
    for (const [route, takes] of Object.entries(TAKES)) {
      const item = doc.paths[toOpenApiPath(route)];
      if (!item) continue;
      const documented = new Set(Object.values(item).flatMap((op) => (op.parameters ?? []).filter((p) => p.in === 'query').map((p) => p.name)));
      expect([...documented].sort(), route).toEqual([...takes].sort());
    }
    const okSchema = (path: string, method: string) => (doc.paths[path]![method]!.responses!['200'] as { content: { 'application/json': { schema: { properties?: Record<string, unknown>; $ref?: string } } } }).content['application/json'].schema;
    for (const [path, method, field] of [
      ['/v1/messages/{id}', 'get', 'deliveries'],
      ['/v1/queues/{name}/deadletters/redrive', 'post', 'redriven'],
      ['/v1/queues/{name}/deadletters', 'delete', 'purged'],
      ['/v1/topics/{topic}/subscriptions/{sub}/retry', 'post', 'retried'],
      ['/v1/queues/{name}/pause', 'post', 'paused'],
    ] as const) {
      expect(Object.keys(okSchema(path, method).properties ?? {}), `${method} ${path}`).toContain(field);
    }
    expect(doc.paths['/v1/queues/{name}/messages/batch']!.post!.responses).toHaveProperty('413');
    expect(doc.paths['/v1/queues/{name}/deadletters/redrive']!.post).toHaveProperty('requestBody');
  });

  it('documents every route the route modules register', async () => {
    const registered: string[] = [];
    const bare = Fastify();
    bare.addHook('onRoute', (route) => {
      for (const method of [route.method].flat()) if (method !== 'HEAD') registered.push(`${method} ${toOpenApiPath(route.url)}`);
    });
    messageRoutes(bare, ctx);
    operationRoutes(bare, ctx);
    drainRoutes(bare, ctx);
    await bare.ready();
    await bare.close();
    const documented = Object.entries(doc.paths).flatMap(([path, item]) => Object.keys(item).filter((m) => METHODS.includes(m)).map((m) => `${m.toUpperCase()} ${path}`));
    expect(registered.length).toBeGreaterThan(20);
    expect(registered.filter((r) => !documented.includes(r))).toEqual([]);
  });

  it('documents only routes that exist', () => {
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const method of Object.keys(item).filter((m) => METHODS.includes(m))) {
        const url = path.replace(/\{([A-Za-z0-9_]+)\}/g, ':$1');
        expect(app.hasRoute({ method: method.toUpperCase() as 'GET', url }), `${method} ${path}`).toBe(true);
      }
    }
  });

  it('gives every operation a summary and responses, and declares each path parameter', () => {
    for (const [path, item] of Object.entries(doc.paths)) {
      const inPath = [...path.matchAll(/\{([A-Za-z0-9_]+)\}/g)].map((m) => m[1]).sort();
      for (const [method, op] of Object.entries(item)) {
        const where = `${method} ${path}`;
        expect(op.summary, where).toBeTruthy();
        expect(Object.keys(op.responses ?? {}).length, where).toBeGreaterThan(0);
        const declared = (op.parameters ?? []).filter((p) => p.in === 'path');
        expect(declared.map((p) => p.name).sort(), where).toEqual(inPath);
        for (const p of declared) expect(p.required, `${where} ${p.name}`).toBe(true);
      }
    }
  });

  it('resolves every $ref inside the document', () => {
    const refs = refsIn(doc);
    expect(refs.length).toBeGreaterThan(0);
    for (const ref of refs) {
      const target = ref.replace(/^#\//, '').split('/').reduce<unknown>((node, key) => (node as Record<string, unknown> | undefined)?.[key], doc);
      expect(target, ref).toBeDefined();
    }
  });
});
