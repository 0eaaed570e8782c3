import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import { createAncillaryApi, type AncillaryStats } from './ancillary-api.js';
import { parseEvents, type Handler, type LineLog, type Reply } from './delivery-request.js';
import { createBillingConsumer, createReadModelProjector, type BillingStats, type ProjectorStats } from './domain-event-consumers.js';
import { createSeededRandom } from '../src/testing/deciders.js';
import { createStubProvider } from './stub-provider.js';
import type { Receiver, ReceiverResponse } from '../src/receiver/index.js';
import { createTenantProvisioning, type ProvisioningStats } from './tenant-provisioning.js';

/**
 * The example "ancillary API": the endpoints Offload delivers to in `npm start`. Plain
 * node:http, because an endpoint behind Offload is an ordinary HTTP handler: it answers 2xx
 * when the work is done, 503 + Retry-After or 5xx when it should be retried, and 4xx when
 * retrying cannot help.
 */

export interface ExampleReceiverOptions {
  /** Default 9000 (the `ancillary` endpoint of examples/offload.yaml); 0 picks a free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Share of provider calls that fail transiently (the ordered consumers fail a third as often). Default 0.3. */
  failureRate?: number;
  /** Seeds every random choice, so a run can be replayed. Default 1. */
  seed?: number;
  /** Where the one-line-per-call log goes. Default console.log. */
  log?: LineLog;
  /** Signing secrets the ancillary routes verify (the endpoint's `secret`/`secrets`). Default none: unsigned requests accepted. */
  secrets?: readonly string[];
}

export interface ReceiverStats extends AncillaryStats {
  requests: number;
  provisionings: ProvisioningStats;
  readModels: ProjectorStats;
  billing: BillingStats;
}

export interface ExampleReceiver {
  /** `http://host:port`, no trailing slash. */
  url: string;
  stats(): ReceiverStats;
  /** Stops listening, lets calls in progress finish, then closes every connection. */
  close(): Promise<void>;
}

const MAX_BODY_BYTES = 1024 * 1024;

export async function createExampleReceiver(options: ExampleReceiverOptions = {}): Promise<ExampleReceiver> {
  const log = options.log ?? ((line: string) => console.log(line));
  const failureRate = options.failureRate ?? 0.3;
  const random = createSeededRandom(options.seed ?? 1);
  const consumerOptions = { log, random, failureRate: failureRate / 3 };
  const ancillary = createAncillaryApi({ provider: createStubProvider({ failureRate, random }), log, ...(options.secrets ? { secrets: options.secrets } : {}) });
  const provisioning = createTenantProvisioning({ ...consumerOptions, startedAt: Date.now() });
  const projector = createReadModelProjector(consumerOptions);
  const billing = createBillingConsumer(consumerOptions);
  const routes: Record<string, Handler> = {
    '/provisionings/deliver': provisioning.handler,
    '/events': projector.handler,
    '/billing/events': billing.handler,
  };
  let requests = 0;
  const stats = (): ReceiverStats => ({ requests, ...ancillary.stats(), provisionings: provisioning.stats(), readModels: projector.stats(), billing: billing.stats() });

  const server = createServer((request, response) => {
    requests++;
    route(request, routes, ancillary.receivers, stats)
      .then((reply) => send(response, reply))
      .catch((error: unknown) => {
        log(`✗ receiver error: ${(error as Error).message}`);
        send(response, { status: 500, body: { detail: 'unexpected error' } });
      });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 9000, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;

  return {
    url: `http://${address.address}:${address.port}`,
    stats,
    close: () => closeServer(server),
  };
}

async function route(request: IncomingMessage, routes: Record<string, Handler>, receivers: Record<string, Receiver>, stats: () => ReceiverStats): Promise<Reply | ReceiverResponse> {
  const path = (request.url ?? '/').split('?')[0]!;
  if (request.method === 'GET' && path === '/_stats') return { status: 200, body: stats() };
  const handler = routes[path];
  const receiver = receivers[path];
  if (!handler && !receiver) return { status: 404, body: { detail: `no route ${path}; routes: ${[...Object.keys(receivers), ...Object.keys(routes)].join(', ')}, GET /_stats` } };
  if (request.method !== 'POST') return { status: 405, body: { detail: 'deliveries are POSTs' } };
  const bytes = await readBody(request);
  if (bytes === undefined) return { status: 413, body: { detail: `body over ${MAX_BODY_BYTES} bytes` } };
  // The ancillary routes are written with offload/receiver: it verifies, parses and answers.
  if (receiver) return receiver.handle({ method: 'POST', header: (name) => headerValue(request.headers[name]), body: bytes });
  const text = bytes.toString('utf8');
  const events = parseEvents(text);
  if (typeof events === 'string') return { status: 400, body: { detail: events } };
  const header = request.headers['idempotency-key'];
  const idempotencyKey = typeof header === 'string' && header !== '' ? header : events[0]!.id;
  return handler!({ path, idempotencyKey, events });
}

/** The body, or undefined when it is too large. */
async function readBody(request: IncomingMessage): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}

function send(response: ServerResponse, reply: Reply | ReceiverResponse): void {
  if (response.headersSent) return;
  if (typeof reply.body === 'string') {
    response.writeHead(reply.status, reply.headers);
    response.end(reply.body);
    return;
  }
  response.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers });
  response.end(JSON.stringify(reply.body));
}

/** Waits for calls in progress (they take milliseconds); a stuck connection is cut after 2s. */
function closeServer(server: ReturnType<typeof createServer>): Promise<void> {
  if (!server.listening) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const force = setTimeout(() => server.closeAllConnections(), 2_000);
    server.close((error) => {
      clearTimeout(force);
      if (error) reject(error);
      else resolve();
    });
    server.closeIdleConnections();
  });
}

/** `node dist/examples/receiver.js [port]`: the receiver alone, e.g. for an Offload started with `offload serve`. */
async function main(): Promise<void> {
  const receiver = await createExampleReceiver({ port: Number(process.argv[2] ?? process.env.RECEIVER_PORT ?? 9000) });
  console.log(`example receiver listening on ${receiver.url} (GET ${receiver.url}/_stats for counts; Ctrl-C stops)`);
  const stop = () => void receiver.close().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
