import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { completionTokens } from '../../src/delivery/completion.js';
import { newMessage } from '../../src/domain/message.js';
import type { Claim } from '../../src/storage/port.js';
import { openApi, type Api } from '../support/api.js';

/** The completion route in-process: who may complete, what it refuses, and what it settles. */
describe('POST /v1/deliveries/{token}/complete', () => {
  let api: Api;
  beforeAll(async () => {
    api = await openApi({
      server: { apiKeys: [{ key: 'op', role: 'operator' }, { key: 'view', role: 'viewer' }, { key: 'jobs-producer', role: 'producer', channels: ['jobs'] }, { key: 'other-producer', role: 'producer', channels: ['audits'] }] },
      endpoints: { sink: { url: 'http://127.0.0.1:9' } },
      queues: { jobs: { endpoint: 'sink', asyncTimeout: '1h' }, audits: { endpoint: 'sink' } },
      topics: { events: { subscriptions: { model: { preset: 'domain-events', endpoint: 'sink', batchSize: 3, asyncTimeout: '1h' } } } },
    });
  });
  afterAll(() => api.close());

  /** Sends, claims and defers as the dispatcher would; returns the call's token. */
  async function deferred(channel: string, target: string, ids: string[], batchSize = 1): Promise<{ token: string; claims: Claim[] }> {
    await api.store.send(channel, ids.map((id) => newMessage({ id, type: 'x', data: {} })));
    const claims = await api.store.claim({ target, limit: 1, owner: 'test', leaseMs: 30_000, batchSize });
    const leases = claims.flatMap((c) => c.deliveries.map((d) => ({ deliveryId: d.deliveryId, epoch: d.epoch })));
    await api.store.defer(leases, Date.now() + 3_600_000, Date.now() + 3_630_000);
    return { token: completionTokens(await api.store.completionKey()).mint(leases[0]!), claims };
  }
  const complete = (token: string, body: unknown, key = 'op') =>
    api.app.inject({ method: 'POST', url: `/v1/deliveries/${encodeURIComponent(token)}/complete`, payload: JSON.stringify(body), headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` } });

  it('lets producers of the channel and operators complete, and nobody else', async () => {
    const { token } = await deferred('jobs', 'jobs', ['a1']);
    const viewer = await complete(token, { outcome: 'delivered' }, 'view');
    expect(viewer.statusCode).toBe(403);
    const other = await complete(token, { outcome: 'delivered' }, 'other-producer');
    expect(other.statusCode).toBe(403);
    expect(other.json().detail).toMatch(/may not complete deliveries of 'jobs'/);
    const own = await complete(token, { outcome: 'delivered' }, 'jobs-producer');
    expect(own.statusCode).toBe(200);
    expect(own.json()).toEqual({ status: 'completed', target: 'jobs', lane: null, outcomes: [{ outcome: 'delivered', ids: ['a1'] }] });
    expect(api.wakes).toContainEqual(['jobs']);
    const again = await complete(token, { outcome: 'delivered' }, 'jobs-producer');
    expect(again.statusCode).toBe(409);
    expect(again.json().type).toBe('urn:offload:problem:already_completed');
    // Whether it was settled is told only to keys that may complete it.
    const otherAgain = await complete(token, { outcome: 'delivered' }, 'other-producer');
    expect(otherAgain.statusCode).toBe(403);
    expect(otherAgain.json().detail).toMatch(/may not complete deliveries of 'jobs'/);
  });

  it('refuses bad outcomes with the field to fix, and unknown or forged tokens with 404, changing nothing', async () => {
    const { token } = await deferred('jobs', 'jobs', ['b1']);
    for (const [body, path] of [
      [{ outcome: 'done' }, 'outcome'],
      [{ outcome: 'permanent' }, 'reason'],
      [{ outcome: 'delivered', retryAfter: 5 }, 'retryAfter'],
      [{ outcome: 'retry', retryAfter: -1 }, 'retryAfter'],
      [{ outcome: 'retry', reason: 'x'.repeat(1001) }, 'reason'],
      [{ outcome: 'delivered', extra: true }, ''],
      [{ outcome: 'delivered', appliedThrough: 'not-in-the-call' }, 'appliedThrough'],
    ] as const) {
      const res = await complete(token, body);
      expect(res.statusCode, JSON.stringify(body)).toBe(400);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      if (path) expect(res.json().errors?.[0]?.path ?? '', JSON.stringify(body)).toBe(path);
    }
    const [id, epoch] = token.split('.');
    for (const [body, detail] of [
      [{ outcome: 'retry', retryAfter: 1e308 }, 'retryAfter must be whole seconds from 0 to 86400 (a day)'],
      [{ outcome: 'retry', retryAfter: 'soon' }, 'retryAfter must be whole seconds from 0 to 86400 (a day)'],
      [{ outcome: 'retry', reason: 'x'.repeat(1_000_000) }, 'reason must be text of 1 to 1000 characters'],
      [{ outcome: 'delivered', appliedThrough: '' }, 'appliedThrough must be the id of a message of this call (1 to 200 characters)'],
      [{ outcome: 'Delivered' }, "outcome must be 'delivered', 'retry' or 'permanent'"],
      [{ outcome: 'permanent', reason: 'bad\u0000byte' }, 'reason cannot contain NUL characters'],
    ] as const) {
      const res = await complete(token, body);
      expect(res.statusCode, detail).toBe(400);
      expect(res.json(), detail).toMatchObject({ detail: `invalid completion: ${detail}`, errors: [{ path: Object.keys(body).at(-1), message: detail }] });
      expect(res.json().errors, detail).toHaveLength(1);
    }
    for (const body of [undefined, null, [], 'delivered']) {
      const res = await api.app.inject({ method: 'POST', url: `/v1/deliveries/${token}/complete`, headers: { authorization: 'Bearer op', ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, ...(body === undefined ? {} : { payload: JSON.stringify(body) }) });
      expect(res.statusCode, String(body)).toBe(400);
      expect(res.json().detail, String(body)).toMatch(/^a completion needs a JSON object body: \{ "outcome": "delivered" \}/);
    }
        const queried = await api.app.inject({ method: 'POST', url: `/v1/deliveries/${token}/complete?outcome=delivered`, payload: '{"outcome":"retry"}', headers: { 'content-type': 'application/json', authorization: 'Bearer op' } });
    expect(queried.statusCode).toBe(400);
    expect(queried.json().detail).toBe("this route does not take the query parameter 'outcome'; it takes none");
        const signature = token.split('.')[2]!;
    for (const forged of ['nonsense', `${id}.${epoch}.AAAAAAAAAAAAAAAAAAAAAA`, `${id}.${Number(epoch) + 1}.${signature}`, `${id}.0${epoch}.${signature}`, `0${id}.${epoch}.${signature}`, `${id}.${epoch}.${signature}=`, 'x'.repeat(65)]) {
      expect((await complete(forged, { outcome: 'delivered' })).statusCode, forged).toBe(404);
    }
    expect((await api.store.getMessage('b1'))[0]!.deliveries[0]!.status).toBe('delivering');
    expect((await complete(token, { outcome: 'retry', reason: 'busy', retryAfter: 60 })).json().outcomes).toEqual([{ outcome: 'retrying', ids: ['b1'] }]);
    const view = (await api.store.getMessage('b1'))[0]!.deliveries[0]!;
    expect(view).toMatchObject({ status: 'retrying', lastError: 'completed as failed: busy' });
    expect(view.availableAt! - Date.now()).toBeGreaterThan(50_000);
  });

  it('completes an ordered batch up to appliedThrough: the rest is given back untried', async () => {
    const { token } = await deferred('events', 'events/model', ['e1', 'e2', 'e3'], 3);
    const res = await complete(token, { outcome: 'delivered', appliedThrough: 'e1' }, 'op');
    expect(res.json()).toEqual({ status: 'completed', target: 'events/model', lane: '', outcomes: [{ outcome: 'delivered', ids: ['e1'] }] });
    const next = await api.store.claim({ target: 'events/model', limit: 1, owner: 'test', leaseMs: 30_000, batchSize: 3 });
    expect(next[0]!.deliveries.map((d) => [d.message.id, d.attempt])).toEqual([['e2', 1], ['e3', 1]]);
  });
});
