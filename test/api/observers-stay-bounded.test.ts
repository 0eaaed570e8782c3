import { connect, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { expectProblem, openApi, type Api } from '../support/api.js';

const config = { endpoints: { sink: { url: 'http://127.0.0.1:9' } }, queues: { audits: { endpoint: 'sink' } } };

interface Frame {
  id?: string;
  event?: string;
  data?: string;
}

/** A raw HTTP client of the event stream: it reads only when told to. */
function openStream(port: number, query = ''): Promise<{ socket: Socket; frames: Frame[]; closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const frames: Frame[] = [];
    let buffer = '';
    let headersDone = false;
    const closed = new Promise<void>((done) => socket.on('close', () => done()));
    socket.setEncoding('utf8');
    socket.on('error', () => undefined);
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      if (!headersDone) {
        const end = buffer.indexOf('\r\n\r\n');
        if (end < 0) return;
        headersDone = true;
        buffer = buffer.slice(end + 4);
        resolve({ socket, frames, closed });
      }
      let at: number;
      while ((at = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, at);
        buffer = buffer.slice(at + 2);
        const frame: Frame = {};
        for (const line of block.split('\n')) {
          const [field, ...rest] = line.split(': ');
          if (field === 'id' || field === 'event' || field === 'data') frame[field] = rest.join(': ');
        }
        if (frame.event) frames.push(frame);
      }
    });
    socket.once('error', reject);
    socket.write(`GET /v1/events${query} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n`);
  });
}

/** Lets sockets move between bursts, as a real stream of deliveries would. */
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('observers stay bounded', () => {
  let api: Api | undefined;
  afterEach(async () => {
    await api?.close();
    api = undefined;
  });

  async function listen(limits: { maxQueue?: number; maxLost?: number } = {}): Promise<number> {
    api = await openApi(config, { eventStream: limits });
    await api.app.listen({ port: 0, host: '127.0.0.1' });
    return (api.app.server.address() as AddressInfo).port;
  }

  it('every event carries an id, and types= keeps only the types asked for', async () => {
    const port = await listen();
    const all = await openStream(port);
    const some = await openStream(port, '?types=delivered,deadlettered');
    for (const type of ['accepted', 'delivered', 'retrying', 'deadlettered', 'delivered']) api!.events.publish({ type, at: 1 });
    await expect.poll(() => all.frames.length).toBe(5);
    await expect.poll(() => some.frames.length).toBe(3);
    expect(all.frames.map((f) => f.id)).toEqual(['1', '2', '3', '4', '5']);
    expect(some.frames.map((f) => [f.id, f.event])).toEqual([['2', 'delivered'], ['4', 'deadlettered'], ['5', 'delivered']]);
    expect(JSON.parse(some.frames[0]!.data!)).toEqual({ type: 'delivered', at: 1 });
    all.socket.destroy();
    some.socket.destroy();
    await expect.poll(() => api!.events.listeners()).toBe(0);
  });

  it('types= that is not a list of event types, or given twice, is a 400', async () => {
    api = await openApi(config);
    for (const query of ['types=', 'types=Delivered', 'types=a;b', 'types=a&types=b', 'type=delivered']) {
      expectProblem(await api.app.inject({ method: 'GET', url: `/v1/events?${query}` }), 400, 'invalid_request', /types|query parameter/);
    }
    // A misspelt type would be a stream that never sends anything.
    expectProblem(await api.app.inject({ method: 'GET', url: '/v1/events?types=delivered,deadletered' }), 400, 'invalid_request', /^types: 'deadletered' is not an event type; the types are accepted, delivered, deferred, retrying, deadlettered,/);
  });

  it('a client that stops reading loses events and is told how many (lagged) once it reads again', async () => {
    const port = await listen({ maxQueue: 50, maxLost: 1_000_000 });
    const slow = await openStream(port);
    slow.socket.pause();
    const payload = 'x'.repeat(1_000);
    const total = 5_000;
    for (let i = 0; i < total; i++) {
      api!.events.publish({ type: 'delivered', at: i, payload });
      if (i % 100 === 99) await turn();
    }
    slow.socket.resume();
    // Every event is either received or counted in a lagged event (there may be several gaps).
    const missed = () => slow.frames.filter((f) => f.event === 'lagged').reduce((n, f) => n + (JSON.parse(f.data!) as { missed: number }).missed, 0);
    await expect.poll(() => slow.frames.filter((f) => f.event === 'delivered').length + missed(), { timeout: 10_000 }).toBe(total);
    expect(missed()).toBeGreaterThan(0);
    // Ids keep counting through the gap: the last event received is the last published.
    api!.events.publish({ type: 'delivered', at: -1 });
    await expect.poll(() => slow.frames.at(-1)?.id).toBe(String(total + 1));
    slow.socket.destroy();
  });

  it('20 clients that never read are disconnected after the limit; memory stays bounded', { timeout: 60_000 }, async () => {
    const port = await listen({ maxQueue: 1_000, maxLost: 10_000 });
    const clients = await Promise.all(Array.from({ length: 20 }, () => openStream(port)));
    for (const c of clients) c.socket.pause();
    const before = process.memoryUsage().rss;
    const payload = 'x'.repeat(300);
    let peak = before;
    for (let i = 0; i < 40_000; i++) {
      api!.events.publish({ type: 'delivered', at: i, target: 'audits', ids: [`m-${i}`], payload });
      if (i % 500 === 499) {
        await turn();
        peak = Math.max(peak, process.memoryUsage().rss);
      }
    }
    await expect.poll(() => api!.events.listeners(), { timeout: 10_000 }).toBe(0);
    // Unbounded, 20 clients hold 40,000 frames of ~400 bytes each: 320 MB. Bounded, each holds
    // at most its socket buffer and 1000 frames.
    if (process.env.SHOW_FIGURES) console.log(`rss growth ${((peak - before) / 2 ** 20).toFixed(1)} MiB`);
    expect((peak - before) / 2 ** 20).toBeLessThan(100);
    for (const c of clients) c.socket.destroy();
  });
});
