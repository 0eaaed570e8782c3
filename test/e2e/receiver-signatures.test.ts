import { describe, expect, it } from 'vitest';
import { createReceiver, type ReceivedEvent } from '../../src/receiver/index.js';
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
});
