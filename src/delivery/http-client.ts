import { Pool, type Dispatcher } from 'undici';
import type { AttemptResult } from '../domain/outcome.js';
import type { CallSignal } from './call-signal.js';

/** One HTTP delivery attempt. Injected into the dispatcher so tests can replace the network. */
export type HttpSend = (call: HttpCall) => Promise<AttemptResult>;

export interface HttpCall {
  url: string;
  body: string;
  headers: Record<string, string>;
  timeoutMs: number;
  /** Aborted when the lease is lost or the dispatcher stops past its deadline. */
  signal?: CallSignal;
}

export interface HttpClient {
  send: HttpSend;
  close(): Promise<void>;
}

/** Bytes of a response body kept as the attempt's excerpt and the message's result. */
export const RESPONSE_EXCERPT_BYTES = 4_096;

/**
 * A keep-alive HTTP client (undici) shared by every target: one connection pool per endpoint URL
 * (a target's origin and path), so a queue with concurrency 64 reuses up to 64 sockets instead of
 * opening one per call, and a target whose calls hang holds only its own pool's connections, not
 * those other targets on the same origin wait for (a call's timeout runs from when it is
 * queued, so time spent waiting for another target's connection would be counted against it). Calls go
 * through undici's dispatch API, which reads the answer with plain callbacks: no stream, no
 * AbortController, no async iterator per call (at one call in flight those cost more than the
 * call itself).
 */
export function createHttpClient(options: { connectionsPerUrl?: number } = {}): HttpClient {
  const targets = new Map<string, { pool: Pool; path: string }>();

  function targetOf(url: string): { pool: Pool; path: string } {
    let target = targets.get(url);
    if (!target) {
      const parsed = new URL(url);
      const pool = new Pool(parsed.origin, { connections: options.connectionsPerUrl ?? 256, pipelining: 1, keepAliveTimeout: 10_000 });
      target = { pool, path: `${parsed.pathname}${parsed.search}` };
      targets.set(url, target);
    }
    return target;
  }

  function send(call: HttpCall): Promise<AttemptResult> {
    const { pool, path } = targetOf(call.url);
    return new Promise<AttemptResult>((resolve) => {
      let controller: Dispatcher.DispatchController | null = null;
      let settled = false;
      let statusCode = 0;
      let retryAfter: string | undefined;
      const chunks: Buffer[] = [];
      let size = 0;
      const finish = (result: AttemptResult) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        call.signal?.removeEventListener('abort', onAbort);
        resolve(result);
      };
      const stop = (result: AttemptResult) => {
        finish(result);
        controller?.abort(new Error(result.kind === 'timeout' ? 'timeout' : 'aborted'));
      };
      // The abort waits one turn of the event loop: after a stall, an answer that already arrived
      // in time is read first instead of being taken for a timeout (and delivered again).
      const timer = setTimeout(() => setImmediate(() => stop({ kind: 'timeout' })), call.timeoutMs);
      const onAbort = () => stop({ kind: 'aborted', error: 'lease lost or shutting down' });
      call.signal?.addEventListener('abort', onAbort, { once: true });
      pool.dispatch(
        { path, method: 'POST', headers: call.headers, body: call.body },
        {
          onRequestStart(c) {
            controller = c;
            if (settled) c.abort(new Error('aborted'));
          },
          onResponseStart(_c, status, headers) {
            if (status < 200) return; // informational answers precede the real one
            statusCode = status;
            const value = headers['retry-after'];
            retryAfter = Array.isArray(value) ? value[0] : value;
          },
          onResponseData(_c, chunk) {
            if (size < RESPONSE_EXCERPT_BYTES) chunks.push(chunk);
            size += chunk.length;
          },
          onResponseEnd() {
            // Kept as text by both stores: a NUL (which PostgreSQL text cannot hold) becomes U+FFFD, as invalid UTF-8 does.
            const body = Buffer.concat(chunks).subarray(0, RESPONSE_EXCERPT_BYTES).toString('utf8').replaceAll('\u0000', '\uFFFD');
            finish({ kind: 'response', statusCode, retryAfter, body });
          },
          onResponseError(_c, error) {
            // The client refused to build the request (an invalid header): nothing was sent.
            const refused = (error as { code?: string }).code === 'UND_ERR_INVALID_ARG';
            finish(refused ? { kind: 'refused', error: describe(error) } : { kind: 'network', error: describe(error) });
          },
        },
      );
    });
  }

  return {
    send,
    async close() {
      await Promise.all([...targets.values()].map(({ pool }) => pool.close()));
    },
  };
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: string }).code;
    const cause = (error as { cause?: { code?: string } }).cause?.code;
    return [code ?? cause, error.message].filter(Boolean).join(': ');
  }
  return String(error);
}
