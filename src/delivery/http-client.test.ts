import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createHttpClient } from './http-client.js';

let server: Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

describe('http client', () => {
  it('a target whose calls hang holds only its own connections: another path on the same origin is answered at once', async () => {
    server = createServer((req, res) => {
      if (req.url === '/hang') return; // never answers
      res.end('ok');
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const client = createHttpClient({ connectionsPerUrl: 2 });
    try {
      // Every connection the hanging path may have is taken (and more calls wait for them).
      const hanging = Array.from({ length: 4 }, () => client.send({ url: `${origin}/hang`, body: '{}', headers: {}, timeoutMs: 2_000 }));
      const answer = await client.send({ url: `${origin}/ok`, body: '{}', headers: {}, timeoutMs: 1_000 });
      expect(answer).toMatchObject({ kind: 'response', statusCode: 200, body: 'ok' });
      expect((await Promise.all(hanging)).map((r) => r.kind)).toEqual(['timeout', 'timeout', 'timeout', 'timeout']);
    } finally {
      await client.close();
    }
  });
});
