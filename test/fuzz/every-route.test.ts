import fc from 'fast-check';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../../src/config/schema.js';
import { completionTokens } from '../../src/delivery/completion.js';
import { createMetrics } from '../../src/server/metrics.js';
import { openApi, type Api } from '../support/api.js';
import { anyRequest, channelName, messageBody, pathSegment, SEEDED_TOKEN } from './arbitraries.js';

/**
 * Property-based fuzzing of the HTTP API, driven in-process. For every generated request: no 5xx,
 * a problem+json answer for every refusal, and a refused request leaves the stored state exactly
 * as it was. `npm run fuzz` runs at least 100,000 inputs; the regular suite a few hundred.
 */
const RUNS = Number(process.env.OFFLOAD_FUZZ_RUNS ?? 150);
const SEED = process.env.OFFLOAD_FUZZ_SEED === undefined ? undefined : Number(process.env.OFFLOAD_FUZZ_SEED);
const params = (numRuns: number): fc.Parameters<unknown> => ({ numRuns, ...(SEED === undefined ? {} : { seed: SEED }), endOnFailure: true });

const config: Omit<ConfigInput, 'storage'> = {
  server: { bodyLimit: 65_536 },
  delivery: { maxPayload: 8_192, maxDepth: 16 },
  endpoints: { sink: { url: 'http://127.0.0.1:9', headers: { Authorization: 'Bearer configured' } } },
  queues: {
    audits: { preset: 'ancillary', endpoint: 'sink', path: '/audits', asyncTimeout: '1h' },
    provisionings: { preset: 'aggregate-fifo', endpoint: 'sink', path: '/provisionings' },
  },
  topics: { events: { retention: '1h', subscriptions: { 'read-models': { preset: 'domain-events', endpoint: 'sink', path: '/events', ordering: 'key', filter: { types: ['*'], keys: ['k*', '*%_?[]'] } } } } },
};

/** What an operator could see change: counts and flags per target (not ages, which move with time). */
async function snapshot(api: Api): Promise<string> {
  const stats = await api.store.stats();
  return JSON.stringify(stats.map((s) => [s.name, s.paused, s.depth, s.inFlight, s.deadLettered, s.skipped, s.delivered, s.parkedLanes, s.stalledLanes, s.lastSequence ?? null]));
}

function checkAnswer(request: InjectOptions, res: LightMyRequestResponse): void {
  const what = `${String(request.method)} ${String(request.url)} -> ${res.statusCode} ${res.body.slice(0, 300)}`;
  expect(res.statusCode, what).toBeGreaterThanOrEqual(200);
  expect(res.statusCode, what).toBeLessThan(500);
  if (res.statusCode >= 400 && request.method !== 'HEAD') {
    expect(res.headers['content-type'], what).toMatch(/^application\/problem\+json/);
    const problem = res.json<{ status: number; detail: string }>();
    expect(problem.status, what).toBe(res.statusCode);
    expect(problem.detail.length, what).toBeGreaterThan(0);
  }
}

describe('property-based fuzz over every route', () => {
  let api: Api;
  let rssAtStart = 0;
  let seededToken = SEEDED_TOKEN;
  const withToken = (request: InjectOptions): InjectOptions => ({ ...request, url: String(request.url).replace(`/deliveries/${SEEDED_TOKEN}/`, `/deliveries/${seededToken}/`) });
  let rssPeak = 0;
  const sample = () => {
    rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
  };

  beforeAll(async () => {
    // The metrics route is part of the surface too.
    api = await openApi(config, { metrics: createMetrics({ stats: () => api.store.stats() }) });
    // Something in every list: a dead letter, a parked key, a skipped message.
    const seed = (url: string, body: unknown) => api.app.inject({ method: 'POST', url, payload: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
    await seed('/v1/queues/audits/messages', { id: 'seed-a', data: { n: 1 } });
    await seed('/v1/queues/provisionings/messages/batch', { messages: [{ id: 'seed-p1', key: 'k1', data: 1 }, { id: 'seed-p2', key: 'k1', data: 2 }] });
    await seed('/v1/topics/events/messages', { id: 'seed-e', key: 'k1', data: { n: 3 } });
    for (const [target, kind] of [['audits', 'deadletter'], ['provisionings', 'park'], ['events/read-models', 'stall']] as const) {
      const [claim] = await api.store.claim({ target, limit: 1, owner: 'fuzz', leaseMs: 3_600_000 });
      const d = claim!.deliveries[0]!;
      const decision = kind === 'stall' ? { kind, reason: 'seeded', availableAt: Date.now() + 3_600_000 } : { kind, reason: 'seeded' };
      await api.store.settle([{ deliveryId: d.deliveryId, epoch: d.epoch, decision, attempt: { attempt: 1, startedAt: Date.now(), durationMs: 1, statusCode: 400, error: null, response: 'no' } }]);
    }
    // A deferred attempt (asyncTimeout) whose token the generated completions use.
    await seed('/v1/queues/audits/messages', { id: 'seed-async', data: { n: 4 } });
    const [deferred] = await api.store.claim({ target: 'audits', limit: 1, owner: 'fuzz', leaseMs: 3_600_000 });
    const lease = { deliveryId: deferred!.deliveries[0]!.deliveryId, epoch: deferred!.deliveries[0]!.epoch };
    await api.store.defer([lease], Date.now() + 3_600_000, Date.now() + 3_660_000);
    seededToken = completionTokens(await api.store.completionKey()).mint(lease);
    rssAtStart = process.memoryUsage().rss;
    rssPeak = rssAtStart;
  });

  afterAll(async () => {
    // Still serving after everything it was fed.
    expect((await api.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    await api.close();
    if (process.env.OFFLOAD_FUZZ_RUNS) console.log(`fuzz: rss at start ${(rssAtStart / 2 ** 20).toFixed(0)} MiB, peak ${(rssPeak / 2 ** 20).toFixed(0)} MiB`);
    expect((rssPeak - rssAtStart) / 2 ** 20).toBeLessThan(256);
  });

  it('any request to any route: never a 5xx, every refusal a problem, and a refused request changes nothing', { timeout: 0 }, async () => {
    let before = await snapshot(api);
    const outcomes = { accepted: 0, refused: 0 };
    await fc.assert(
      fc.asyncProperty(anyRequest.map(withToken), async (request) => {
        const res = await api.app.inject(request);
        checkAnswer(request, res);
        outcomes[res.statusCode >= 400 ? 'refused' : 'accepted']++;
        const after = await snapshot(api);
        if (res.statusCode >= 400) expect(after, `${String(request.method)} ${String(request.url)} was refused but changed the store`).toBe(before);
        before = after;
        sample();
      }),
      params(RUNS),
    );
    // The generators reach both sides of every check.
    expect(outcomes.accepted).toBeGreaterThan(0);
    expect(outcomes.refused).toBeGreaterThan(0);
  });

  it('a message that is accepted reads back as sent; one that is refused is not stored', { timeout: 0 }, async () => {
    const outcomes = { accepted: 0, refused: 0 };
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('/v1/queues/audits', '/v1/queues/provisionings', '/v1/topics/events'), messageBody, async (channel, message) => {
        const before = await snapshot(api);
        const payload = typeof message === 'string' ? message : JSON.stringify(message);
        const request: InjectOptions = { method: 'POST', url: `${channel}/messages`, payload, headers: { 'content-type': 'application/json' } };
        const res = await api.app.inject(request);
        checkAnswer(request, res);
        outcomes[res.statusCode >= 400 ? 'refused' : 'accepted']++;
        if (res.statusCode >= 400) {
          expect(await snapshot(api)).toBe(before);
        } else if (res.statusCode === 202) {
          const { id } = res.json<{ id: string }>();
          const sent = JSON.parse(payload) as { data: unknown };
          const name = channel.split('/').at(-1)!;
          const view = await api.app.inject({ method: 'GET', url: `/v1/messages/${encodeURIComponent(id)}?channel=${name}` });
          expect(view.statusCode, `GET ${id}: ${view.body.slice(0, 200)}`).toBe(200);
          expect(JSON.stringify(view.json<{ data: unknown }>().data)).toBe(JSON.stringify(sent.data));
        }
        sample();
      }),
      params(RUNS),
    );
    expect(outcomes.accepted).toBeGreaterThan(0);
    expect(outcomes.refused).toBeGreaterThan(0);
  });

  it('API keys: whatever is asked, a producer only sends to its channels, a viewer only reads, no key only reaches health', { timeout: 0 }, async () => {
    const keys = { producer: 'p-key', viewer: 'v-key', operator: 'o-key' };
    const secured = await openApi({
      ...config,
      server: { ...config.server, apiKeys: [{ key: keys.producer, role: 'producer', channels: ['audits'] }, { key: keys.viewer, role: 'viewer' }, { key: keys.operator, role: 'operator' }] },
    });
    try {
      const who = fc.constantFrom('producer', 'viewer', 'operator', 'none', 'garbage');
      await fc.assert(
        fc.asyncProperty(anyRequest, who, async (request, role) => {
          const headers = { ...(request.headers as Record<string, string>) };
          delete headers.authorization;
          if (role === 'garbage') headers.authorization = 'Bearer p-key ';
          else if (role !== 'none') headers.authorization = `Bearer ${keys[role]}`;
          const res = await secured.app.inject({ ...request, headers });
          checkAnswer(request, res);
          if (res.statusCode >= 300) return;
          const path = String(request.url).split('?')[0]!;
          const what = `${role} ${String(request.method)} ${String(request.url)} -> ${res.statusCode}`;
          if (role === 'producer') expect(path, what).toMatch(/^\/v1\/queues\/audits\/messages(\/batch)?$|^\/v1\/deliveries\/[^/]+\/complete$|^\/(healthz|readyz|dashboard)?$/);
          // A viewer may trade its key for an event stream token: that is reading, too.
          if (role === 'viewer' && path !== '/v1/events/token') expect(['GET', 'HEAD'], what).toContain(request.method);
          if (role === 'none' || role === 'garbage') expect(path, what).toMatch(/^\/(healthz|readyz|dashboard)?$/);
        }),
        params(Math.max(50, Math.round(RUNS / 2))),
      );
    } finally {
      await secured.close();
    }
  });

  it('channel names, ids and keys in paths: never a 5xx', { timeout: 0 }, async () => {
    const routes = [
      (c: string) => ({ method: 'POST' as const, url: `/v1/queues/${c}/messages`, payload: '{"data":1}' }),
      (c: string) => ({ method: 'POST' as const, url: `/v1/topics/${c}/messages/batch`, payload: '{"messages":[{"data":1}]}' }),
      (c: string) => ({ method: 'GET' as const, url: `/v1/messages/${c}` }),
      (c: string) => ({ method: 'GET' as const, url: `/v1/queues/${c}/deadletters` }),
      (c: string) => ({ method: 'POST' as const, url: `/v1/queues/provisionings/parked/${c}/retry` }),
      (c: string) => ({ method: 'POST' as const, url: `/v1/topics/events/subscriptions/${c}/skip` }),
      (c: string) => ({ method: 'GET' as const, url: `/v1/topics/${c}/subscriptions/${c}` }),
      (c: string) => ({ method: 'POST' as const, url: `/v1/queues/${c}/pause` }),
    ];
    await fc.assert(
      fc.asyncProperty(fc.oneof(channelName, pathSegment), fc.nat(routes.length - 1), async (segment, which) => {
        const request: InjectOptions = { ...routes[which]!(segment), headers: { 'content-type': 'application/json' } };
        const before = await snapshot(api);
        const res = await api.app.inject(request);
        checkAnswer(request, res);
        if (res.statusCode >= 400) expect(await snapshot(api)).toBe(before);
        // Leave nothing paused for the next inputs.
        if (request.method === 'POST' && String(request.url).endsWith('/pause') && res.statusCode === 200) {
          await api.app.inject({ method: 'POST', url: String(request.url).replace(/pause$/, 'resume') });
        }
        sample();
      }),
      params(RUNS),
    );
  });
});
