/**
 * The no-op receiver: its own process, so that the work of answering deliveries is
 * not charged to the system under test. Every `POST /deliver/<stream>` is timestamped
 * when its headers arrive, checked (ids, order and overlap per key), and answered 200.
 *
 * Control routes for the orchestrator: `POST /_reset?tag=<runTag>`, `GET /_stats`
 * (add `?latency=1` for percentiles). The chosen port is sent to the parent over IPC.
 * The process exits when its parent goes away.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { nowMs } from './lib/clock.js';
import { parseDelivery } from './lib/parse-delivery.js';
import { createReceiverState } from './lib/receiver-state.js';

const state = createReceiverState();
const MAX_BODY_BYTES = 4 * 1024 * 1024;
const OK_BODY = '{"ok":true}';

function answer(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function readBody(req: IncomingMessage): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    });
    req.on('end', () => resolve(size <= MAX_BODY_BYTES ? Buffer.concat(chunks).toString('utf8') : undefined));
    req.on('error', reject);
  });
}

async function deliver(req: IncomingMessage, res: ServerResponse, stream: string, startedAt: number): Promise<void> {
  const arrivals = parseDelivery((await readBody(req)) ?? '');
  if (!arrivals) {
    state.malformed();
    answer(res, 400, '{"error":"not a bench message"}');
    return;
  }
  state.arriveRequest(stream, arrivals, startedAt);
  res.on('finish', () => state.finishRequest(stream, arrivals, nowMs()));
  answer(res, 200, OK_BODY);
}

function control(req: IncomingMessage, res: ServerResponse, url: URL): void {
  if (req.method === 'POST' && url.pathname === '/_reset') {
    state.reset(url.searchParams.get('tag') ?? '');
    answer(res, 200, OK_BODY);
  } else if (req.method === 'GET' && url.pathname === '/_stats') {
    answer(res, 200, JSON.stringify(state.snapshot(url.searchParams.get('latency') === '1')));
  } else {
    answer(res, 404, '{"error":"no such route"}');
  }
  req.resume();
}

const server = createServer((req, res) => {
  const startedAt = nowMs();
  const url = new URL(req.url ?? '/', 'http://127.0.0.1');
  const match = /^\/deliver\/([\w.-]+)$/.exec(url.pathname);
  if (req.method === 'POST' && match?.[1]) {
    deliver(req, res, match[1], startedAt).catch(() => answer(res, 500, '{"error":"read failed"}'));
  } else {
    control(req, res, url);
  }
});
// Keep-alive sockets stay open for the whole case, as a production endpoint would.
server.keepAliveTimeout = 120_000;
server.headersTimeout = 125_000;

server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  process.send?.({ port });
});
process.on('disconnect', () => process.exit(0));
