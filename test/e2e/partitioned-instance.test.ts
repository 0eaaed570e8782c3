import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import { get, post, startOffload, testReceiver } from '../support/offload.js';
import { dropSchema, postgresAvailable, TEST_PG_URL, testSchema } from '../support/postgres.js';

const pgUp = await postgresAvailable();

/**
 * A TCP relay in front of PostgreSQL that can go silent: while frozen it passes no bytes either
 * way (connections stay open, as across a network partition or a stalled switch).
 */
async function freezableRelay(): Promise<{ url: string; freeze(): void; thaw(): void }> {
  const target = new URL(TEST_PG_URL);
  const pairs = new Set<[Socket, Socket]>();
  let frozen = false;
  const server: Server = createServer((client) => {
    const upstream = createConnection({ host: target.hostname, port: Number(target.port || 5432) });
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    client.pipe(upstream);
    upstream.pipe(client);
    if (frozen) for (const socket of pair) socket.pause();
    const drop = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onTestFinished(() => {
    for (const [a, b] of pairs) {
      a.destroy();
      b.destroy();
    }
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const { port } = server.address() as { port: number };
  const url = new URL(TEST_PG_URL);
  url.port = String(port);
  url.hostname = '127.0.0.1';
  return {
    url: url.toString(),
    freeze() {
      frozen = true;
      for (const pair of pairs) for (const socket of pair) socket.pause();
    },
    thaw() {
      frozen = false;
      for (const pair of pairs) for (const socket of pair) socket.resume();
    },
  };
}

describe.runIf(pgUp)('an instance cut off from PostgreSQL while it calls an endpoint', () => {
  it('cuts its call off before its lease ends: the instance that takes the key over never overlaps it', async () => {
    const schema = testSchema();
    onTestFinished(() => dropSchema(schema));
    // Each call takes 6 s, two 3 s leases: only renewals keep it.
    const receiver = await testReceiver({ exclusive: 'key', latencyMs: 6_000 });
    const relay = await freezableRelay();
    const config = (url: string) => ({
      storage: { postgres: { url, schema, poolSize: 3 } },
      delivery: { pollInterval: '100ms' },
      endpoints: { app: { url: receiver.url, timeout: '10s' } },
      queues: { steps: { preset: 'aggregate-fifo' as const, endpoint: 'app', path: '/steps', lockDuration: '3s', minBackoff: '10ms', maxBackoff: '50ms' } },
    });
    const cut = await startOffload(config(relay.url));
    for (const id of ['m1', 'm2']) expect((await post(cut.url, '/v1/queues/steps/messages', { id, key: 'k', data: {} })).status).toBe(202);
    await receiver.waitFor((r) => r.inFlight().length === 1, { timeoutMs: 10_000 });
    const other = await startOffload(config(TEST_PG_URL));
    relay.freeze();
    try {
      // The other instance takes the key over once the lease has run out, and sends m1 again.
      await receiver.waitFor((r) => r.records().length >= 2, { timeoutMs: 15_000 });
      expect(receiver.records()[0]!.outcome).toBe('aborted');
    } finally {
      relay.thaw();
    }
    await receiver.waitFor((r) => r.acceptCounts('/steps').has('m2'), { timeoutMs: 30_000 });
    expect(receiver.overlaps()).toEqual([]);
    expect(receiver.acceptedIds('/steps')).toEqual(['m1', 'm2']);
    const history = (await get(other.url, '/v1/messages/m1')).body.deliveries[0].history as Array<{ attempt: number; error: string | null }>;
    expect(history[0]).toMatchObject({ attempt: 1, error: 'cut off: the lease was about to run out and could not be renewed' });
  }, 60_000);
});
