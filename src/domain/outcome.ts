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
  const reason = `HTTP ${code}`;
  if (code === 429 || code === 503) {
    const retryAfterMs = parseRetryAfter(result.retryAfter, now);
    return retryAfterMs === undefined ? { kind: 'retryable', reason } : { kind: 'retryable', reason, retryAfterMs };
  }
  if (code >= 500 || RETRYABLE_4XX.has(code)) return { kind: 'retryable', reason };
  return { kind: 'permanent', reason };
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

export function endpointVerdict(result: AttemptResult): EndpointVerdict {
  switch (result.kind) {
    case 'refused':
    case 'aborted':
      return 'untested';
    case 'timeout':
    case 'network':
      return 'failure';
    case 'response': {
      const code = result.statusCode;
      if (code >= 200 && code < 300) return 'success';
      if (code >= 500 || code === 408 || code === 425) return 'failure';
      return 'neutral';
    }
  }
}
