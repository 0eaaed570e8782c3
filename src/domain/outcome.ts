import { parseRetryAfter } from './retry-policy.js';

/** What came back from one delivery attempt, as the HTTP client saw it. */
export type AttemptResult =
  | { kind: 'response'; statusCode: number; retryAfter?: string | null; body?: string }
  | { kind: 'timeout' }
  | { kind: 'network'; error: string };

export type Classification =
  | { kind: 'delivered' }
  | { kind: 'retryable'; reason: string; retryAfterMs?: number }
  | { kind: 'permanent'; reason: string };

const RETRYABLE_4XX = new Set([408, 425, 429]);

/** SPEC §3: 2xx delivered; 408/425/429/5xx, timeouts and connection errors retry; other codes are permanent. */
export function classify(result: AttemptResult, now: number): Classification {
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
