import { connect, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { startOffload } from '../support/offload.js';

/** Writes raw bytes to the API and resolves with everything it answers, once it closes the connection. */
function rawExchange(url: string, request: string): Promise<{ answer: string; closedAfterMs: number }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket = connect(Number(port), hostname, () => socket.write(request));
    let answer = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (answer += chunk));
    socket.on('error', reject);
    socket.on('close', () => resolve({ answer, closedAfterMs: Date.now() - started }));
    socket.setTimeout(10_000, () => socket.destroy(new Error('the API kept the connection open')));
  });
}

function problemOf(answer: string): { status: number; type: string; contentType: string | undefined } {
  const [head, body] = answer.split('\r\n\r\n', 2) as [string, string];
  const contentType = /^content-type: *(.+)$/im.exec(head)?.[1]?.trim();
  const parsed = JSON.parse(body) as { status: number; type: string };
  return { status: Number(head.split(' ')[1]), type: parsed.type, contentType };
}

describe('clients that stall or speak broken HTTP', () => {
  it('cuts off a request whose body stalls after server.requestTimeout, with a 408 problem, storing nothing', async () => {
    const offload = await startOffload({
      server: { requestTimeout: '400ms' },
      endpoints: { sink: { url: 'http://127.0.0.1:9' } },
      queues: { q: { endpoint: 'sink' } },
    });
    const head = 'POST /v1/queues/q/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5000000\r\n\r\n{"data":';
    const { answer, closedAfterMs } = await rawExchange(offload.url, head);
    expect(problemOf(answer)).toEqual({ status: 408, type: 'urn:offload:problem:request_timeout', contentType: 'application/problem+json' });
    expect(closedAfterMs).toBeGreaterThanOrEqual(350);
    expect(closedAfterMs).toBeLessThan(5_000);
    const stats = (await (await fetch(`${offload.url}/v1/channels`)).json()) as { items: Array<{ name: string; depth: number }> };
    expect(stats.items.find((c) => c.name === 'q')!.depth).toBe(0);
  });

  it('answers malformed framing and oversized headers with problem+json, and goes on serving', async () => {
    const offload = await startOffload({ endpoints: { sink: { url: 'http://127.0.0.1:9' } }, queues: { q: { endpoint: 'sink' } } });
    const cases: Array<[string, number, string]> = [
      ['POST /v1/queues/q/messages HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n{"a":1}', 400, 'urn:offload:problem:malformed_request'],
      ['POST /v1/queues/q/messages HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n', 400, 'urn:offload:problem:malformed_request'],
      [`GET /v1/channels HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, 431, 'urn:offload:problem:headers_too_large'],
    ];
    for (const [request, status, type] of cases) {
      expect(problemOf((await rawExchange(offload.url, request)).answer)).toEqual({ status, type, contentType: 'application/problem+json' });
    }
    expect((await fetch(`${offload.url}/healthz`)).status).toBe(200);
  });

  it('holds at most server.maxConnections connections: one more is closed at once, and the API serves again when they go', async () => {
    const offload = await startOffload({ server: { maxConnections: 3 }, endpoints: { sink: { url: 'http://127.0.0.1:9' } }, queues: { q: { endpoint: 'sink' } } });
    const { hostname, port } = new URL(offload.url);
    const idle: Socket[] = [];
    for (let i = 0; i < 3; i++) {
      idle.push(await new Promise<Socket>((resolve, reject) => {
        const socket = connect(Number(port), hostname, () => resolve(socket)).on('error', reject);
      }));
    }
    // Once the server holds the three, a fourth is closed without an answer.
    await expect.poll(async () => (await rawExchange(offload.url, 'GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')).answer, { timeout: 5_000 }).toBe('');
    for (const socket of idle) socket.destroy();
    await expect.poll(async () => (await fetch(`${offload.url}/healthz`).catch(() => undefined))?.status, { timeout: 5_000 }).toBe(200);
  });

  it('bounds the bodies being received at once (server.maxBodiesInFlight): past it a send gets 503 with Retry-After before its body is read', async () => {
    const offload = await startOffload({ server: { maxBodiesInFlight: '1MiB', bodyLimit: '1MiB' }, endpoints: { sink: { url: 'http://127.0.0.1:9' } }, queues: { q: { endpoint: 'sink' } } });
    const { hostname, port } = new URL(offload.url);
    // A slow upload announces 900,000 bytes and stalls after a few.
    const slow = await new Promise<Socket>((resolve, reject) => {
      const socket = connect(Number(port), hostname, () => {
        socket.write('POST /v1/queues/q/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 900000\r\n\r\n{"data":"');
        resolve(socket);
      }).on('error', reject);
    });
    const big = JSON.stringify({ id: 'big', data: 'x'.repeat(200_000) });
    const send = () => fetch(`${offload.url}/v1/queues/q/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: big });
    await expect.poll(async () => (await send()).status, { timeout: 5_000 }).toBe(503);
    const refused = await send();
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(await refused.json()).toMatchObject({ status: 503, type: 'urn:offload:problem:busy', detail: expect.stringContaining('server.maxBodiesInFlight') });
    // A small send still fits; once the slow upload goes, the big one is taken too.
    expect((await fetch(`${offload.url}/v1/queues/q/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"id":"small","data":1}' })).status).toBe(202);
    slow.destroy();
    await expect.poll(async () => (await send()).status < 300, { timeout: 5_000 }).toBe(true);
  });
});
