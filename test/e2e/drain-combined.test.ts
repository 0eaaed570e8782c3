import { describe, expect, it } from 'vitest';
import { createClient, type DrainResult } from '../../src/client/index.js';
import type { Clock } from '../../src/domain/clock.js';
import { deferringApp, DEFERRING_SECRET } from '../support/deferring-app.js';
import { get, post, startOffload, testReceiver } from '../support/offload.js';

const SECRET = DEFERRING_SECRET;
const reasons = (result: DrainResult) => result.undelivered.map((u) => [u.id, u.reason]);

/** The system clock moved on by hand: time passes for expiry without waiting for it. */
function skewedClock(): Clock & { skip(ms: number): void } {
  let skew = 0;
  return { now: () => Date.now() + skew, skip: (ms) => void (skew += ms) };
}

describe('a drain together with the other features', () => {
  it('reports a deferred (202) delivery as awaiting completion instead of waiting out asyncTimeout; completed, the next drain goes on', async () => {
    const app = await deferringApp();
    const offload = await startOffload({
      testing: { drain: true },
      endpoints: { app: { url: app.url, secret: SECRET } },
      queues: {
        jobs: { endpoint: 'app', path: '/work', asyncTimeout: '1h' },
        steps: { kind: 'fifo', endpoint: 'app', path: '/work', asyncTimeout: '1h', minBackoff: '1h', maxBackoff: '1h' },
      },
    });
    const client = createClient({ url: offload.url });
    await client.send('jobs', { id: 'j1', data: {} });
    await client.sendBatch('steps', [{ id: 's1', key: 'k', data: {} }, { id: 's2', key: 'k', data: {} }]);

    const waiting = await client.drain({ timeout: 10_000 });
    expect(waiting).toMatchObject({ complete: true, stoppedBy: null, counts: { 'awaiting-completion': 3 } });
    expect(reasons(waiting)).toEqual([['j1', 'awaiting-completion'], ['s1', 'awaiting-completion'], ['s2', 'awaiting-completion']]);
    expect(waiting.undelivered[0]).toMatchObject({ status: 'delivering', attempts: 1, completionToken: app.tokens.get('j1') });
    // Behind the deferred head of a key: no call of its own to complete.
    expect(waiting.undelivered[2]!.completionToken).toBeUndefined();

    await client.complete(app.tokens.get('j1')!, { outcome: 'delivered' });
    // A retry outcome keeps the key blocked, in order, until the retry is delivered.
    await client.complete(app.tokens.get('s1')!, { outcome: 'retry', reason: 'busy' });
    const retrying = await client.drain({ timeout: 10_000 });
    expect(reasons(retrying)).toEqual([['s1', 'retrying'], ['s2', 'retrying']]);

    const next = await client.drain({ skipBackoff: true, timeout: 10_000 });
    expect(reasons(next)).toEqual([['s2', 'awaiting-completion']]);
    // The drain hands out the token, so a test completes the work the endpoint left running.
    expect(next.undelivered[0]!.completionToken).toBe(app.tokens.get('s2'));
    await client.complete(next.undelivered[0]!.completionToken!, { outcome: 'delivered' });
    expect(await client.drain({ timeout: 10_000 })).toMatchObject({ complete: true, undelivered: [] });
    expect(app.calls).toEqual([['j1', 1], ['s1', 1], ['s1', 2], ['s2', 1]]);
  });

  it('dead-letters expired messages instead of waiting for the expiry sweep, also on a paused queue; a redrive is drained', async () => {
    const receiver = await testReceiver();
    const clock = skewedClock();
    const offload = await startOffload({
      testing: { drain: true },
      // The regular sweep does not run during the test: the drain must expire on its own.
      delivery: { pollInterval: '1h' },
      endpoints: { sink: { url: receiver.url } },
      queues: { offers: { endpoint: 'sink', path: '/offers', ttl: '1m' }, paused: { endpoint: 'sink', path: '/paused', ttl: '1m' } },
    }, { clock });
    await post(offload.url, '/v1/queues/offers/pause', undefined);
    await post(offload.url, '/v1/queues/paused/pause', undefined);
    const client = createClient({ url: offload.url });
    await client.send('offers', { id: 'stale', data: {} });
    await client.send('offers', { id: 'lasting', data: {}, ttl: '1h' });
    await client.send('paused', { id: 'held', data: {} });
    clock.skip(120_000);
    await post(offload.url, '/v1/queues/offers/resume', undefined);

    const result = await client.drain({ timeout: 10_000 });
    expect(result).toMatchObject({ complete: true, counts: { deadlettered: 2 } });
    expect(result.undelivered.map((u) => [u.id, u.reason, u.lastError]).sort()).toEqual([['held', 'deadlettered', 'expired'], ['stale', 'deadlettered', 'expired']]);
    expect(receiver.acceptedIds('/offers')).toEqual(['lasting']);

    // A redrive gives it its time to live again, counted from now: the next drain delivers it.
    expect((await post(offload.url, '/v1/queues/offers/deadletters/redrive', {})).status).toBe(200);
    expect((await client.drain({ timeout: 10_000 })).undelivered.map((u) => u.id)).toEqual(['held']);
    expect(receiver.acceptedIds('/offers').sort()).toEqual(['lasting', 'stale']);
    expect((await get(offload.url, '/v1/messages/stale')).body.status).toBe('delivered');
  });
});
