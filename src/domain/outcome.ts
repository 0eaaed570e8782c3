import { parseRetryAfter } from './retry-policy.js';

/** What came back from one delivery attempt, as the HTTP client saw it. */
export type AttemptResult =
  | { kind: 'response'; statusCode: number; retryAfter?: string | null; body?: string }
  | { kind: 'timeout' }
  | { kind: 'network'; error: string }
  /** Nothing was sent: the request cannot be made from this message (a header HTTP cannot carry, a request the client refuses). */
  | { kind: 'refused'; error: string }
  /** Offload itself ended the call (its lease was lost, or it is shutting down past its deadline). */
  | { kind: 'aborted'; error: string };

export type Classification =
  | { kind: 'delivered' }
  | { kind: 'retryable'; reason: string; retryAfterMs?: number }
  | { kind: 'permanent'; reason: string };

const RETRYABLE_4XX = new Set([408, 425, 429]);

/** SPEC §3: 2xx delivered; 408/425/429/5xx, timeouts and connection errors retry; other codes are permanent. */
export function classify(result: AttemptResult, now: number): Classification {
  // The same message would be refused again on every attempt: it fails now, with the reason.
  if (result.kind === 'refused') return { kind: 'permanent', reason: `request refused before sending: ${result.error}` };
  if (result.kind === 'aborted') return { kind: 'retryable', reason: `aborted by Offload: ${result.error}` };
  if (result.kind === 'timeout') return { kind: 'retryable', reason: 'timeout' };
  if (result.kind === 'network') return { kind: 'retryable', reason: `network error: ${result.error}` };
  const code = result.statusCode;
  if (code >= 200 && code < 300) return { kind: 'delivered' };
  const said = problemDetail(result.body);
  const reason = said === undefined ? `HTTP ${code}` : `HTTP ${code}: ${said}`;
  if (code === 429 || code === 503) {
    const retryAfterMs = parseRetryAfter(result.retryAfter, now);
    return retryAfterMs === undefined ? { kind: 'retryable', reason } : { kind: 'retryable', reason, retryAfterMs };
  }
  if (code >= 500 || RETRYABLE_4XX.has(code)) return { kind: 'retryable', reason };
  return { kind: 'permanent', reason };
}

/**
 * What a failed answer says went wrong, when it says so the standard way: the `detail` of an
 * RFC 9457 problem (as `permanent(reason)` and `retryAfter` of offload/receiver answer), or else a
 * `message` or `error` string of a JSON object; one line, at most 200 characters. It becomes part
 * of the attempt's reason, which dead-letter and parked lists show.
 */
function problemDetail(body: string | undefined): string | undefined {
  if (body === undefined || body.length > 16_384 || !body.trimStart().startsWith('{')) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return undefined;
  }
  if (parsed === null || typeof parsed !== 'object') return undefined;
  const fields = parsed as Record<string, unknown>;
  const text = [fields.detail, fields.message, fields.error].find((v): v is string => typeof v === 'string' && v.trim() !== '');
  if (text === undefined) return undefined;
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > 200 ? `${line.slice(0, 199)}…` : line;
}

/**
 * What one attempt says about the endpoint, for the circuit breaker of its origin:
 * - `success`: a 2xx.
 * - `failure`: the endpoint failed: 5xx, 408, 425, a timeout or a connection error.
 * - `neutral`: the endpoint answered, so it works, though it did not accept this message (other
 *   4xx) or asked to slow down (429).
 * - `untested`: nothing reached the endpoint, or Offload ended the call itself (refused message,
 *   lost lease, shutdown): it says nothing about the endpoint and never opens the breaker. One bad
 *   message must not stop other teams' traffic to the same origin.
 */
export type EndpointVerdict = 'success' | 'failure' | 'neutral' | 'untested';

const LOCAL_EXHAUSTION = /\b(EMFILE|ENFILE|ENOBUFS|ENOMEM)\b/;

export function endpointVerdict(result: AttemptResult): EndpointVerdict {
  switch (result.kind) {
    case 'refused':
    case 'aborted':
      return 'untested';
    case 'timeout':
      return 'failure';
    case 'network':
      // This process ran out of file descriptors or buffers (a connection flood on its API, say):
      // the endpoint was never reached, so its breaker hears nothing.
      return LOCAL_EXHAUSTION.test(result.error) ? 'untested' : 'failure';
    case 'response': {
      const code = result.statusCode;
      if (code >= 200 && code < 300) return 'success';
      if (code >= 500 || code === 408 || code === 425) return 'failure';
      return 'neutral';
    }
  }
}
