import { sleep } from './timing.js';

/** How long one API call may take before the runner treats the instance as gone. */
const REQUEST_TIMEOUT_MS = 10_000;

export interface ApiAnswer {
  readonly status: number;
  readonly body: unknown;
}

/** One JSON call to an Offload API; throws on network errors and timeouts. */
export async function call(base: string, method: 'GET' | 'POST', path: string, body?: unknown): Promise<ApiAnswer> {
  const init: RequestInit = { method, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) };
  if (body !== undefined) {
    init.headers = { 'content-type': 'application/json' };
    init.body = JSON.stringify(body);
  }
  const res = await fetch(`${base}${path}`, init);
  const text = await res.text();
  return { status: res.status, body: text ? safeJson(text) : null };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** The runner sent something Offload refuses: a bug in the runner, not a fault to retry. */
export class RefusedError extends Error {}

/** The send was never answered before the deadline: its messages are not counted as accepted. */
export class UnansweredError extends Error {}

export interface SendTarget {
  /** A live instance's API base URL, or undefined while none is up. */
  pickUrl(): string | undefined;
}

export interface RetryCounter {
  retried(reason: string): void;
}

/**
 * POSTs until an answer arrives. A send whose answer was lost (instance killed mid-request,
 * 5xx while the store restarts) may or may not have been stored, so it is repeated with the
 * same ids, to whichever instance is up: deduplication makes that safe, and only the answer
 * makes the messages count as accepted.
 */
export async function sendUntilAnswered(
  target: SendTarget,
  path: string,
  body: unknown,
  options: { deadline: number; counter: RetryCounter },
): Promise<unknown> {
  let backoff = 50;
  for (;;) {
    const url = target.pickUrl();
    if (url) {
      const outcome = await attempt(url, path, body);
      if (outcome.kind === 'answered') return outcome.body;
      options.counter.retried(outcome.reason);
    }
    if (Date.now() + backoff > options.deadline) throw new UnansweredError(`no answer to POST ${path} before the deadline`);
    await sleep(backoff);
    backoff = Math.min(backoff * 2, 1_000);
  }
}

type Attempt = { kind: 'answered'; body: unknown } | { kind: 'retry'; reason: string };

async function attempt(url: string, path: string, body: unknown): Promise<Attempt> {
  let answer: ApiAnswer;
  try {
    answer = await call(url, 'POST', path, body);
  } catch (error) {
    return { kind: 'retry', reason: networkReason(error) };
  }
  if (answer.status === 200 || answer.status === 202) return { kind: 'answered', body: answer.body };
  if (answer.status >= 500 || answer.status === 429) return { kind: 'retry', reason: `HTTP ${answer.status}` };
  throw new RefusedError(`POST ${path} answered ${answer.status}: ${JSON.stringify(answer.body).slice(0, 500)}`);
}

function networkReason(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = (error as { cause?: { code?: string } }).cause;
  return error.name === 'TimeoutError' ? 'timeout' : (cause?.code ?? error.message);
}
