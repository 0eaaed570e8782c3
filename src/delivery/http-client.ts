import { Agent, request } from 'undici';
import type { AttemptResult } from '../domain/outcome.js';

/** One HTTP delivery attempt. Injected into the dispatcher so tests can replace the network. */
export type HttpSend = (call: HttpCall) => Promise<AttemptResult>;

export interface HttpCall {
  url: string;
  body: string;
  headers: Record<string, string>;
  timeoutMs: number;
  /** Aborted when the lease is lost or the dispatcher stops past its deadline. */
  signal?: AbortSignal;
}

export interface HttpClient {
  send: HttpSend;
  close(): Promise<void>;
}

/** Bytes of a response body kept as the attempt's excerpt and the message's result. */
export const RESPONSE_EXCERPT_BYTES = 4_096;

/**
 * A keep-alive HTTP client (undici) shared by every target: connections are pooled per origin,
 * so a queue with concurrency 64 reuses up to 64 sockets instead of opening one per call.
 */
export function createHttpClient(options: { connectionsPerOrigin?: number } = {}): HttpClient {
  const agent = new Agent({
    connections: options.connectionsPerOrigin ?? 256,
    keepAliveTimeout: 10_000,
    pipelining: 1,
  });

  async function send(call: HttpCall): Promise<AttemptResult> {
    // One controller per call, aborted by the timeout or by the caller (lease lost, shutdown).
    const controller = new AbortController();
    let timedOut = false;
    // The abort waits one turn of the event loop: after a stall, an answer that already arrived
    // in time is read first instead of being taken for a timeout (and delivered again).
    const timer = setTimeout(() => {
      setImmediate(() => {
        timedOut = true;
        controller.abort();
      });
    }, call.timeoutMs);
    const onAbort = () => controller.abort();
    call.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const response = await request(call.url, {
        method: 'POST',
        body: call.body,
        headers: call.headers,
        dispatcher: agent,
        signal: controller.signal,
      });
      const body = await readExcerpt(response.body);
      const retryAfter = response.headers['retry-after'];
      return { kind: 'response', statusCode: response.statusCode, retryAfter: Array.isArray(retryAfter) ? retryAfter[0] : retryAfter, body };
    } catch (error) {
      if (timedOut) return { kind: 'timeout' };
      if (call.signal?.aborted) return { kind: 'network', error: 'aborted: lease lost or shutting down' };
      return { kind: 'network', error: describe(error) };
    } finally {
      clearTimeout(timer);
      call.signal?.removeEventListener('abort', onAbort);
    }
  }

  return { send, close: () => agent.close() };
}

async function readExcerpt(body: AsyncIterable<Buffer> & { destroy(): unknown }): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    if (size < RESPONSE_EXCERPT_BYTES) chunks.push(chunk);
    size += chunk.length;
  }
  return Buffer.concat(chunks).subarray(0, RESPONSE_EXCERPT_BYTES).toString('utf8');
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: string }).code;
    const cause = (error as { cause?: { code?: string } }).cause?.code;
    return [code ?? cause, error.message].filter(Boolean).join(': ');
  }
  return String(error);
}
