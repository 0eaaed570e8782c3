import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import Fastify from 'fastify';
import { Hono } from 'hono';
import { onTestFinished } from 'vitest';
import { expressMiddleware, fastifyPlugin, honoMiddleware, type Receiver } from '../../src/receiver/index.js';

/** Receivers mounted on one framework's server at the given paths, on a free loopback port. */
export interface MountedReceivers {
  url: string;
  close(): Promise<void>;
}

export type Framework = 'fetch' | 'fastify' | 'express' | 'hono';
export const FRAMEWORKS: readonly Framework[] = ['fetch', 'fastify', 'express', 'hono'];

/** Serves `routes` with `framework`; the server closes when the test ends. */
export async function mountReceivers(framework: Framework, routes: Record<string, Receiver>): Promise<MountedReceivers> {
  const mounted = await MOUNT[framework](routes);
  onTestFinished(() => mounted.close());
  return mounted;
}

const MOUNT: Record<Framework, (routes: Record<string, Receiver>) => Promise<MountedReceivers>> = {
  async fetch(routes) {
    return serveFetch(async (request) => {
      const receiver = routes[new URL(request.url).pathname];
      return receiver ? receiver.fetch(request) : new Response('no route', { status: 404 });
    });
  },
  async fastify(routes) {
    const app = Fastify();
    for (const [path, receiver] of Object.entries(routes)) await app.register(fastifyPlugin(receiver), { prefix: path });
    // The application's own JSON routes keep the default parser outside the plugin.
    app.post('/json', async (request) => ({ echoed: request.body }));
    await app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = app.server.address() as AddressInfo;
    return { url: `http://127.0.0.1:${port}`, close: () => app.close() };
  },
  async express(routes) {
    const app = express();
    // A JSON body parser in front: CloudEvents media types pass it untouched.
    app.use(express.json());
    for (const [path, receiver] of Object.entries(routes)) app.post(path, expressMiddleware(receiver));
    return listen(createServer(app));
  },
  async hono(routes) {
    const app = new Hono();
    for (const [path, receiver] of Object.entries(routes)) app.post(path, honoMiddleware(receiver));
    return serveFetch(async (request) => app.fetch(request));
  },
};

/** A node:http server that hands each request to a Web fetch handler (what Bun or Deno do natively). */
export function serveFetch(handler: (request: Request) => Promise<Response>): Promise<MountedReceivers> {
  const server = createServer((req, res) => {
    toRequest(req)
      .then(handler)
      .then(async (response) => {
        res.writeHead(response.status, Object.fromEntries(response.headers));
        res.end(Buffer.from(await response.arrayBuffer()));
      })
      .catch((error: unknown) => {
        res.writeHead(500);
        res.end(String(error));
      });
  });
  return listen(server);
}

async function toRequest(req: IncomingMessage): Promise<Request> {
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk);
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(', ') : value);
  const body = req.method === 'GET' || req.method === 'HEAD' ? undefined : Buffer.concat(chunks);
  return new Request(`http://${req.headers.host ?? '127.0.0.1'}${req.url ?? '/'}`, { method: req.method ?? 'GET', headers, body });
}

async function listen(server: Server): Promise<MountedReceivers> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
