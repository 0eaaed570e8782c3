import { describe, expect, it } from 'vitest';
import { createReceiver, ok, type ReceivedEvent } from '../../src/receiver/index.js';
import { FRAMEWORKS, mountReceivers } from '../support/framework-servers.js';
import { get, post, startOffload } from '../support/offload.js';

const OLD = 'whsec_' + Buffer.from('the-secret-being-retired-000000').toString('base64');
const NEW = 'a-plain-new-secret-after-rotation';

describe.each(FRAMEWORKS)('offload/receiver behind %s, against a real Offload', (framework) => {
  it('verifies signatures: rotation accepted, a wrong secret and a stale timestamp refused and dead-lettered', async () => {
    const seen: ReceivedEvent[] = [];
    const handlers = { '*': (event: ReceivedEvent) => void seen.push(event) };
    const receivers = {
      // The receiver already moved to the new secret; Offload signs with both during the rotation.
      '/events': createReceiver({ secrets: [NEW], handlers }),
      // Its clock is ten minutes ahead: every request looks like a replay of an old one.
      '/skewed': createReceiver({ secrets: [NEW], handlers, now: () => Date.now() + 600_000 }),
    };
    const mounted = await mountReceivers(framework, receivers);
    const queue = { preset: 'ancillary', minBackoff: '10ms', maxBackoff: '50ms' } as const;
    const offload = await startOffload({
      endpoints: {
        rotating: { url: mounted.url, secrets: [OLD, NEW] },
        stale: { url: mounted.url, secret: OLD },
      },
      queues: {
        rotated: { ...queue, endpoint: 'rotating', path: '/events' },
        wrong: { ...queue, endpoint: 'stale', path: '/events' },
        replayed: { ...queue, endpoint: 'rotating', path: '/skewed' },
      },
    });
    const data = { text: 'héllo ✓', nested: { n: 1.5e-7, list: [1, 'two', null] } };
    for (const queueName of ['rotated', 'wrong', 'replayed']) {
      expect((await post(offload.url, `/v1/queues/${queueName}/messages`, { id: `${queueName}-1`, type: 'note.added', key: 'k', data })).status).toBe(202);
    }
    const status = async (id: string) => (await get(offload.url, `/v1/messages/${id}`)).body;
    await expect.poll(async () => (await status('rotated-1')).status, { timeout: 10_000 }).toBe('delivered');
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ id: 'rotated-1', type: 'note.added', source: '/offload/rotated', data });
    await expect.poll(async () => (await status('wrong-1')).status, { timeout: 10_000 }).toBe('deadlettered');
    const wrong = (await status('wrong-1')).deliveries[0].history[0];
    expect(wrong.statusCode).toBe(401);
    expect(wrong.response).toMatch(/no signature matches/);
    await expect.poll(async () => (await status('replayed-1')).status, { timeout: 10_000 }).toBe('deadlettered');
    expect((await status('replayed-1')).deliveries[0].history[0].response).toMatch(/replayed request, or a clock off/);
    expect(seen).toHaveLength(1);
  });

  it('gives handlers headers by name in any letter case; a result JSON cannot hold is a 500 told to onError', async () => {
    const headers: Array<Array<string | undefined>> = [];
    const errors: unknown[] = [];
    let unsendable = true;
    const receiver = createReceiver({
      secrets: [NEW],
      onError: (error) => void errors.push(error),
      handlers: {
        'step.done': (_event, ctx) => {
          headers.push([ctx.header('Offload-Lane'), ctx.header('offload-lane'), ctx.header('IDEMPOTENCY-KEY'), ctx.header('Content-Type')]);
          if (!unsendable) return ok({ n: 1 });
          unsendable = false;
          return ok({ n: 1n });
        },
      },
    });
    const mounted = await mountReceivers(framework, { '/steps': receiver });
    const offload = await startOffload({
      endpoints: { app: { url: mounted.url, secret: NEW } },
      queues: { steps: { preset: 'aggregate-fifo', endpoint: 'app', path: '/steps', minBackoff: '10ms', maxBackoff: '50ms' } },
    });
    expect((await post(offload.url, '/v1/queues/steps/messages', { id: 's1', type: 'step.done', key: 'tenant-1', data: {} })).status).toBe(202);
    await expect.poll(async () => (await get(offload.url, '/v1/messages/s1')).body.status, { timeout: 10_000 }).toBe('delivered');
    const history = (await get(offload.url, '/v1/messages/s1')).body.deliveries[0].history;
    expect(history.map((a: { statusCode: number }) => a.statusCode)).toEqual([500, 200]);
    expect(errors).toEqual([expect.objectContaining({ message: expect.stringMatching(/cannot be sent as JSON/) })]);
    expect(headers).toHaveLength(2);
    for (const [lane, lower, key, type] of headers) {
      expect(lane).toBe('tenant-1');
      expect(lower).toBe('tenant-1');
      expect(key).toBe('s1');
      expect(type).toMatch(/^application\/cloudevents\+json/);
    }
  });
});
