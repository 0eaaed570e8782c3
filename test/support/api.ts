import { join } from 'node:path';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { expect } from 'vitest';
import { buildConfig, type OffloadConfig } from '../../src/config/load.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { createCompleter } from '../../src/delivery/completer.js';
import { createServer } from '../../src/server/app.js';
import { createEventHub, type EventHub } from '../../src/server/event-hub.js';
import { createSqliteStore, type SqliteStore } from '../../src/storage/sqlite/sqlite-store.js';
import { tempDir } from './temp.js';

export interface Api {
  app: FastifyInstance;
  store: SqliteStore;
  config: OffloadConfig;
  events: EventHub;
  /** Targets the routes asked the dispatcher to look at. */
  wakes: string[][];
  close(): Promise<void>;
}

/** The HTTP API over a real SQLite file, driven in-process; the dispatcher is left out. */
export async function openApi(input: Omit<ConfigInput, 'storage'>, serverOptions: Omit<Parameters<typeof createServer>[1] & object, 'logger'> = {}): Promise<Api> {
  const dir = tempDir();
  const path = join(dir.path, 'offload.db');
  const config = buildConfig({ ...input, storage: { sqlite: { path, durability: 'process' } } }, { env: {} });
  const store = createSqliteStore({ path, durability: 'process' });
  await store.migrate();
  await store.declare(config.channels);
  const wakes: string[][] = [];
  const events = createEventHub();
  const wake = (targets: readonly string[]) => void wakes.push([...targets]);
  const completer = createCompleter({ store, targets: config.targets, clock: store.clock, random: Math.random, wake });
  const app = createServer({ config, store, wake, events, ready: () => true, now: () => Date.now(), complete: completer.complete }, { logger: false, ...serverOptions });
  await app.ready();
  return {
    app,
    store,
    config,
    events,
    wakes,
    async close() {
      await app.close();
      await store.close();
      dir.cleanup();
    },
  };
}

export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail: string;
  errors?: Array<{ path: string; message: string }>;
}

export function expectProblem(res: LightMyRequestResponse, status: number, type: string, detail: RegExp | string): ProblemBody {
  expect(res.statusCode, res.body).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  const body = res.json<ProblemBody>();
  expect(body.type).toBe(`urn:offload:problem:${type}`);
  expect(body.status).toBe(status);
  if (typeof detail === 'string') expect(body.detail).toBe(detail);
  else expect(body.detail).toMatch(detail);
  return body;
}

export const jsonRequest = (payload: unknown, headers: Record<string, string> = {}) => ({ payload: JSON.stringify(payload), headers: { 'content-type': 'application/json', ...headers } });
