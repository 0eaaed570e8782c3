import { describe, expect, it } from 'vitest';
import { get, post, startOffload, testReceiver } from '../support/offload.js';
import { createClient } from '../../src/client/index.js';
import { runCli } from '../support/cli.js';

async function subscribedOffload() {
  const receiver = await testReceiver();
  const offload = await startOffload({
    endpoints: { app: { url: receiver.url } },
    topics: { events: { subscriptions: { model: { endpoint: 'app', path: '/model', minBackoff: '10ms', maxBackoff: '50ms' } } } },
  });
  const publish = async (...ids: string[]) => {
    const sent = await post(offload.url, '/v1/topics/events/messages/batch', { messages: ids.map((id) => ({ id, type: 'Happened', data: { id } })) });
    expect(sent.status).toBe(202);
    for (const id of ids) await expect.poll(async () => (await get(offload.url, `/v1/messages/${id}`)).body.status, { timeout: 15_000 }).toBe('delivered');
  };
  return { receiver, offload, publish };
}

const SEEK = '/v1/topics/events/subscriptions/model/seek';

describe('seek API', () => {
  it('refuses bad bodies (400), unknown subscriptions (404) and points it cannot reach (409), each saying what to do', async () => {
    const { offload, publish } = await subscribedOffload();
    await publish('e1', 'e2', 'e3');
    const bad = async (body: unknown) => {
      const answer = await post(offload.url, SEEK, body);
      expect(answer.status, JSON.stringify(body)).toBe(400);
      expect(answer.body.type).toBe('urn:offload:problem:invalid_request');
      return answer.body.detail as string;
    };
    expect(await bad(undefined)).toMatch(/exactly one of sequence .* or time/);
    expect(await bad({})).toMatch(/exactly one of sequence .* or time/);
    expect(await bad({ sequence: 1, time: '2026-01-31T09:00:00Z' })).toMatch(/exactly one of/);
    expect(await bad({ sequence: 0 })).toMatch(/invalid seek/);
    for (const sequence of [0, -0, -1, 1.5, 2 ** 53, 1e308, 'NaN', null]) {
      expect(await bad({ sequence }), String(sequence)).toBe('invalid seek: sequence must be a whole number from 1 to 9007199254740991 (an event\'s sequence)');
    }
    expect(await bad({ sequence: '2' })).toMatch(/invalid seek/);
    expect(await bad({ sequence: 1.5 })).toMatch(/invalid seek/);
    expect(await bad({ time: 'yesterday' })).toMatch(/ISO 8601 date-time with a time zone/);
    expect(await bad({ time: '2026-01-31T09:00:00' })).toMatch(/ISO 8601 date-time with a time zone/);
    expect(await bad({ sequence: 1, from: 'start' })).toMatch(/invalid seek/);
    expect(await bad([1])).toMatch(/JSON object/);

    // A seek moves every lane: a key (or anything else) in the query is refused, not ignored.
    for (const query of ['?key=k1', '?sequence=1', '?key=a&key=b']) {
      const answer = await post(offload.url, `${SEEK}${query}`, { sequence: 1 });
      expect(answer.status, query).toBe(400);
      expect(answer.body.detail, query).toMatch(/this route does not take the query parameter|given more than once/);
    }
    // The client: an invalid Date is refused by the server with the same 400, not a bare RangeError.
    const client = createClient({ url: offload.url });
    await expect(client.seekSubscription('events', 'model', { time: new Date('not a date') })).rejects.toMatchObject({ status: 400, problem: { detail: expect.stringMatching(/ISO 8601 date-time with a time zone/) } });
    for (const path of ['/v1/topics/nope/subscriptions/model/seek', '/v1/topics/events/subscriptions/nope/seek']) {
      const missing = await post(offload.url, path, { sequence: 1 });
      expect(missing.status).toBe(404);
      expect(missing.body.detail).toMatch(/is not configured/);
    }

    const future = await post(offload.url, SEEK, { sequence: 9 });
    expect(future.status).toBe(409);
    expect(future.body).toMatchObject({ type: 'urn:offload:problem:conflict', detail: expect.stringContaining('seek to 4 to skip everything published so far') });

    // Retention removes e1..e3 (all delivered); a seek before e4 is then refused.
    const before = new Date(Date.now() - 60_000).toISOString();
    expect(await offload.store.sweep(Date.now() + 1_000)).toBe(3);
    await publish('e4');
    const gone = await post(offload.url, SEEK, { sequence: 1 });
    expect(gone.status).toBe(409);
    expect(gone.body.detail).toBe('sequence 1 is older than what the topic keeps: events up to 3 were removed by retention; seek to 4 or later, or raise topics.<topic>.retention to keep events longer');
    const old = await post(offload.url, SEEK, { time: before });
    expect(old.status).toBe(409);
    expect(old.body.detail).toMatch(/is older than what the topic keeps: events published up to .* \(sequence 3\) were removed by retention/);
  });

  it('a seek on a paused subscription moves it at once: its view shows the new lag, still paused; forward, the skipped events are listed', async () => {
    const { offload, publish } = await subscribedOffload();
    await publish('e1', 'e2', 'e3');
    const view = async () => (await get(offload.url, '/v1/topics/events/subscriptions/model')).body;
    expect(await view()).toMatchObject({ lag: 0, lastSequence: 3, paused: false });
    expect((await post(offload.url, '/v1/topics/events/subscriptions/model/pause', undefined)).status).toBe(200);
    expect((await post(offload.url, SEEK, { sequence: 2 })).body).toMatchObject({ sequence: 2, replayed: 2, skipped: 0 });
    expect(await view()).toMatchObject({ lag: 2, lastSequence: 1, paused: true });
    expect((await post(offload.url, SEEK, { sequence: 4 })).body).toMatchObject({ sequence: 4, replayed: 0, skipped: 2 });
    expect(await view()).toMatchObject({ lag: 0, skipped: 2, paused: true });
    const skipped = (await get(offload.url, '/v1/topics/events/subscriptions/model/skipped')).body.items.map((i: { id: string }) => i.id);
    expect(skipped).toEqual(['e2', 'e3']);
  });

  it('replays from a sequence and answers what it did; the CLI does the same', async () => {
    const { receiver, offload, publish } = await subscribedOffload();
    await publish('e1', 'e2', 'e3');
    const events: Array<{ type: string }> = [];
    const unsubscribe = offload.events.subscribe((e) => void events.push(e));
    const seek = await post(offload.url, SEEK, { sequence: 2 });
    unsubscribe();
    expect(seek.status).toBe(200);
    expect(seek.body).toEqual({ subscription: 'events/model', sequence: 2, replayed: 2, skipped: 0, fenced: 0 });
    // Operators watching the event stream see it too.
    expect(events.filter((e) => e.type === 'seek')).toEqual([{ type: 'seek', at: expect.any(Number), target: 'events/model', sequence: 2, replayed: 2, skipped: 0, fenced: 0 }]);
    await expect.poll(() => receiver.acceptCounts().get('e3') ?? 0, { timeout: 15_000 }).toBe(2);
    expect(receiver.acceptCounts().get('e1')).toBe(1);
    expect(receiver.acceptCounts().get('e2')).toBe(2);

    const env = { OFFLOAD_URL: offload.url };
    const human = await runCli(['subscriptions', 'seek', 'events', 'model', '--sequence', '3'], { env });
    expect(human.stdout.trim()).toBe('events/model now reads from sequence 3: 1 event(s) to deliver again, 0 skipped, 0 call(s) in flight fenced');
    await expect.poll(() => receiver.acceptCounts().get('e3') ?? 0, { timeout: 15_000 }).toBe(3);
    const json = await runCli(['subscriptions', 'seek', 'events', 'model', '--time', new Date(Date.now() + 60_000).toISOString(), '--json'], { env });
    expect(JSON.parse(json.stdout)).toEqual({ subscription: 'events/model', sequence: 4, replayed: 0, skipped: 0, fenced: 0 });
    const neither = await runCli(['subscriptions', 'seek', 'events', 'model'], { env });
    expect(neither.code).toBe(1);
    expect(neither.stderr).toMatch(/give exactly one of --sequence <n> or --time <iso>/);
    const refused = await runCli(['subscriptions', 'seek', 'events', 'model', '--sequence', '7'], { env });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/sequence 7 has not been published yet/);
  });
});
