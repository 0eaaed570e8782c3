import { describe, expect, it } from 'vitest';
import { createClient, OffloadApiError } from '../../src/client/index.js';
import { deferringApp, DEFERRING_SECRET } from '../support/deferring-app.js';
import { get, post, startOffload, testReceiver } from '../support/offload.js';

const status = async (base: string, id: string) => (await get(base, `/v1/messages/${id}`)).body.status as string;

async function refusal(work: Promise<unknown>): Promise<string | undefined> {
  try {
    await work;
    return undefined;
  } catch (error) {
    expect(error).toBeInstanceOf(OffloadApiError);
    return `${(error as OffloadApiError).status} ${(error as OffloadApiError).problem?.type}`;
  }
}

describe('asynchronous acknowledgement and seek together with the other features', () => {
  it('a completion of a call a seek fenced is answered 409 superseded and changes nothing', async () => {
    const app = await deferringApp((event, ctx) => event.id === 'e2' && ctx.attempt === 1);
    const offload = await startOffload({
      testing: { drain: true },
      endpoints: { app: { url: app.url, secret: DEFERRING_SECRET } },
      topics: { events: { subscriptions: { model: { endpoint: 'app', path: '/work', asyncTimeout: '1h' } } } },
    });
    const client = createClient({ url: offload.url });
    await client.publishBatch('events', [{ id: 'e1', data: {} }, { id: 'e2', data: {} }]);
    await expect.poll(() => app.tokens.get('e2'), { timeout: 10_000 }).toBeDefined();
    const seek = await post(offload.url, '/v1/topics/events/subscriptions/model/seek', { sequence: 1 });
    expect(seek.body).toMatchObject({ replayed: 1, fenced: 1 });
    expect(await refusal(client.complete(app.tokens.get('e2')!, { outcome: 'delivered' }))).toBe('409 urn:offload:problem:superseded');
    expect(await status(offload.url, 'e2')).not.toBe('delivered');
    // Its lane waits out the fenced call's deadline: a drain says so instead of waiting for it.
    const drained = await client.drain({ timeout: 10_000 });
    expect(drained).toMatchObject({ complete: true, counts: { fenced: 2 } });
    expect(drained.undelivered.map((u) => [u.id, u.reason])).toEqual([['e1', 'fenced'], ['e2', 'fenced']]);
  });

  it('a completion after the queue was paused still settles the deferred call; a retry outcome waits for the resume', async () => {
    const app = await deferringApp();
    const offload = await startOffload({
      testing: { drain: true },
      endpoints: { app: { url: app.url, secret: DEFERRING_SECRET } },
      queues: { jobs: { endpoint: 'app', path: '/work', asyncTimeout: '1h', minBackoff: '1ms', maxBackoff: '1ms' } },
    });
    const client = createClient({ url: offload.url });
    await client.sendBatch('jobs', [{ id: 'j1', data: {} }, { id: 'j2', data: {} }]);
    await expect.poll(() => app.tokens.size, { timeout: 10_000 }).toBe(2);
    await post(offload.url, '/v1/queues/jobs/pause', undefined);
    expect(await client.complete(app.tokens.get('j1')!, { outcome: 'delivered' })).toMatchObject({ outcomes: [{ outcome: 'delivered', ids: ['j1'] }] });
    expect(await status(offload.url, 'j1')).toBe('delivered');
    await client.complete(app.tokens.get('j2')!, { outcome: 'retry', reason: 'busy' });
    const paused = await client.drain({ skipBackoff: true, timeout: 10_000 });
    expect(paused.undelivered.map((u) => [u.id, u.reason])).toEqual([['j2', 'paused']]);
    expect(app.calls).toEqual([['j1', 1], ['j2', 1]]);
    await post(offload.url, '/v1/queues/jobs/resume', undefined);
    expect(await client.drain({ skipBackoff: true, timeout: 10_000 })).toMatchObject({ complete: true, undelivered: [] });
    expect(app.calls).toEqual([['j1', 1], ['j2', 1], ['j2', 2]]);
  });

  it('a seek on a paused subscription replays nothing until it is resumed, then in order', async () => {
    const receiver = await testReceiver();
    const offload = await startOffload({
      testing: { drain: true },
      endpoints: { sink: { url: receiver.url } },
      topics: { events: { subscriptions: { model: { endpoint: 'sink', path: '/model' } } } },
    });
    const client = createClient({ url: offload.url });
    await client.publishBatch('events', [{ id: 'e1', data: {} }, { id: 'e2', data: {} }, { id: 'e3', data: {} }]);
    await client.drain({ timeout: 10_000 });
    await post(offload.url, '/v1/topics/events/subscriptions/model/pause', undefined);
    expect((await post(offload.url, '/v1/topics/events/subscriptions/model/seek', { sequence: 2 })).body).toMatchObject({ replayed: 2 });
    const paused = await client.drain({ timeout: 10_000 });
    expect(paused.undelivered.map((u) => [u.id, u.reason])).toEqual([['e2', 'paused'], ['e3', 'paused']]);
    expect(receiver.records()).toHaveLength(3);
    await post(offload.url, '/v1/topics/events/subscriptions/model/resume', undefined);
    expect(await client.drain({ timeout: 10_000 })).toMatchObject({ complete: true, undelivered: [] });
    expect(receiver.records().map((r) => r.events[0]!.id)).toEqual(['e1', 'e2', 'e3', 'e2', 'e3']);
  });
});
