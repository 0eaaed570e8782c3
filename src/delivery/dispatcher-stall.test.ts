import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import type { QueueTarget } from '../domain/channel.js';
import { newMessage } from '../domain/message.js';
import type { Store } from '../storage/port.js';
import { createSqliteStore } from '../storage/sqlite/sqlite-store.js';
import { createDispatcher, type DeliveryEvent, type Dispatcher } from './dispatcher.js';
import { createHttpClient } from './http-client.js';

/** An endpoint in a thread of its own, so that it answers while this thread is stalled: 2xx after 1,450 ms. */
const ENDPOINT = `
const { createServer } = require('node:http');
const { parentPort } = require('node:worker_threads');
const server = createServer((req, res) => { req.resume(); setTimeout(() => res.end('ok'), 1450); });
server.listen(0, '127.0.0.1', () => parentPort.postMessage(server.address().port));
parentPort.on('message', () => server.close(() => process.exit(0)));
`;

/** Holds this thread's event loop, as a busy process or a slow machine does. */
function stall(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // nothing runs meanwhile: no timer, no input
  }
}

describe('dispatcher after a stall (real clock, real endpoint in another thread)', () => {
  let worker: Worker | undefined;
  let dispatcher: Dispatcher | undefined;
  let store: Store | undefined;
  afterEach(async () => {
    await dispatcher?.stop(0);
    await store?.close();
    if (worker) await new Promise((resolve) => (worker!.once('exit', resolve), worker!.postMessage('exit')));
  });

  it('an answer that came while the process stood still past the cut-off time is read, not cut off', async () => {
    worker = new Worker(ENDPOINT, { eval: true });
    const port = await new Promise<number>((resolve) => worker!.once('message', resolve));
    const real = createSqliteStore({ path: ':memory:' });
    await real.declare([{ name: 'q', kind: 'queue' }]);
    // Renewals do not get through: the call is cut off 200 ms before its 2 s lease ends.
    store = Object.assign(Object.create(null) as Store, real, { renew: () => Promise.reject(new Error('store unreachable')) });
    const target: QueueTarget = {
      kind: 'queue', name: 'q', ordering: 'none', url: `http://127.0.0.1:${port}/hook`, endpoint: 'sink', timeoutMs: 10_000, lockDurationMs: 2_000,
      concurrency: 1, maxAttempts: 3, minBackoffMs: 60_000, maxBackoffMs: 60_000, secrets: [], headers: {},
    };
    const client = createHttpClient();
    const events: DeliveryEvent[] = [];
    let delivered: () => void;
    const done = new Promise<void>((resolve) => (delivered = resolve));
    dispatcher = createDispatcher({
      store, targets: [target], owner: 'me',
      send: (call) => {
        // The cut-off is armed for 1,800 ms by the renewal tick at 1,333 ms. This thread stands
        // still from 1,400 ms to 2,400 ms (outside the timers phase, so the cut-off is due when it
        // wakes); the endpoint answers 1,450 ms into the call.
        setTimeout(() => setImmediate(() => stall(1_000)), 1_400);
        return client.send(call);
      },
      onEvent: (e) => {
        events.push(e);
        delivered();
      },
    });
    try {
      await store.send('q', [newMessage({ id: 'm1', type: 'x', data: {} })]);
      dispatcher.start();
      await done;
      expect(events.map((e) => e.type)).toEqual(['delivered']);
    } finally {
      await client.close();
    }
  });
});
