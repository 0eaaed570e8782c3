import { describe, expect, it } from 'vitest';
import { createReceiver, type ReceivedEvent } from '../../src/receiver/index.js';
import { MAX_BATCH_BODY_BYTES } from '../../src/delivery/dispatcher.js';
import { mountReceivers } from '../support/framework-servers.js';
import { get, post, startOffload } from '../support/offload.js';

const SECRET = 'large-batches-secret';

describe('batches of large events', () => {
  it('a backlog whose batch would pass the body limit goes in several calls, in order, none over it', async () => {
    const calls: string[][] = [];
    // A receiver that takes exactly the limit: one body over it would be refused (413) and stall the subscription.
    const receiver = createReceiver({
      secrets: SECRET,
      maxBodyBytes: MAX_BATCH_BODY_BYTES,
      handlers: { '*': (event: ReceivedEvent, ctx) => void (ctx.batch.index === 0 ? calls.push([event.id]) : calls.at(-1)!.push(event.id)) },
      onError: () => {},
    });
    const mounted = await mountReceivers('fetch', { '/work': receiver });
    const offload = await startOffload({
      endpoints: { app: { url: mounted.url, secret: SECRET } },
      topics: { events: { subscriptions: { model: { preset: 'domain-events', endpoint: 'app', path: '/work', ordering: 'topic', batchSize: 100, minBackoff: '10ms', maxBackoff: '50ms' } } } },
    });
    expect((await post(offload.url, '/v1/topics/events/pause', undefined)).status).toBe(200);
    const big = 'x'.repeat(240 * 1024);
    const ids = Array.from({ length: 80 }, (_, i) => `e${i + 1}`);
    for (const id of ids) expect((await post(offload.url, '/v1/topics/events/messages', { id, data: { big } })).status).toBe(202);
    expect((await post(offload.url, '/v1/topics/events/resume', undefined)).status).toBe(200);
    await expect.poll(async () => (await get(offload.url, `/v1/messages/${ids.at(-1)}`)).body.status, { timeout: 20_000 }).toBe('delivered');
    expect(calls.flat()).toEqual(ids);
    expect(calls.length).toBeGreaterThan(1);
    expect(calls[0]!.length).toBeLessThan(MAX_BATCH_BODY_BYTES / (240 * 1024));
  }, 30_000);
});
