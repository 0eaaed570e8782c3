import type { ServerResponse } from 'node:http';

/** A fixed wait in ms, or a uniformly random one drawn from the receiver's seeded generator. */
export type Latency = number | { readonly min: number; readonly max: number };

/**
 * What the receiver does with one request. Every kind except `hang` and `reset` answers,
 * after the receiver-wide `latencyMs` (if any) plus the fault's own wait.
 */
export type Fault =
  /** Answer `status` (default 200) with `body` (default empty). */
  | { readonly kind: 'ok'; readonly status?: number; readonly body?: string }
  /** Answer any status, e.g. 500, 400, 503. */
  | { readonly kind: 'status'; readonly status: number; readonly body?: string }
  /** 429 (default) or 503 with `Retry-After`: a number of seconds, or a date sent as an HTTP date. */
  | { readonly kind: 'retryAfter'; readonly after: number | Date; readonly status?: 429 | 503 }
  /** Never answer: the request ends when the client gives up or the receiver closes. */
  | { readonly kind: 'hang' }
  /** Reset the connection (TCP RST) after `afterMs` (default at once). */
  | { readonly kind: 'reset'; readonly afterMs?: Latency }
  /** Send headers at once, then `chunkBytes` (default 1) of `body` every `intervalMs`. */
  | {
      readonly kind: 'slowBody';
      readonly intervalMs: number;
      readonly status?: number;
      readonly body?: string;
      readonly chunkBytes?: number;
    }
  /** Wait `ms`, then answer `status` (default 200). */
  | { readonly kind: 'slowHeaders'; readonly ms: Latency; readonly status?: number; readonly body?: string }
  /** Wait `ms`, then answer 200. */
  | { readonly kind: 'delay'; readonly ms: Latency; readonly body?: string };

export type FaultKind = Fault['kind'];

/** What a fault needs from the request it is played on. */
export interface FaultStage {
  readonly response: ServerResponse;
  /** Runs `fn` after `ms` unless the request has ended by then; ending clears the timer. */
  after(ms: number, fn: () => void): void;
  /** Resolves a latency to a number of ms. */
  pick(latency: Latency): number;
  /** Records the outcome `reset`, then resets the connection. */
  reset(): void;
}

const DEFAULT_SLOW_BODY = '{"slow":true}';

export function playFault(fault: Fault, stage: FaultStage, baseDelayMs: number): void {
  const { response } = stage;
  switch (fault.kind) {
    case 'ok':
      return later(stage, baseDelayMs, () => answer(response, fault.status ?? 200, fault.body ?? ''));
    case 'status':
      return later(stage, baseDelayMs, () => answer(response, fault.status, fault.body ?? `fault: status ${fault.status}`));
    case 'retryAfter':
      return later(stage, baseDelayMs, () =>
        answer(response, fault.status ?? 429, `fault: retry after ${retryAfterValue(fault.after)}`, {
          'retry-after': retryAfterValue(fault.after),
        }),
      );
    case 'hang':
      return;
    case 'reset':
      return later(stage, stage.pick(fault.afterMs ?? 0), () => stage.reset());
    case 'slowBody':
      return later(stage, baseDelayMs, () => dribble(stage, fault));
    case 'slowHeaders':
      return later(stage, baseDelayMs + stage.pick(fault.ms), () =>
        answer(response, fault.status ?? 200, fault.body ?? ''),
      );
    case 'delay':
      return later(stage, baseDelayMs + stage.pick(fault.ms), () => answer(response, 200, fault.body ?? ''));
  }
}

export function retryAfterValue(after: number | Date): string {
  return after instanceof Date ? after.toUTCString() : String(Math.max(0, Math.ceil(after)));
}

// A zero wait still answers synchronously, so `ok` without latency adds no timer at all.
function later(stage: FaultStage, ms: number, fn: () => void): void {
  if (ms <= 0) fn();
  else stage.after(ms, fn);
}

function answer(response: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  const bytes = Buffer.from(body);
  response.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': String(bytes.length),
    ...headers,
  });
  response.end(bytes);
}

function dribble(stage: FaultStage, fault: Extract<Fault, { kind: 'slowBody' }>): void {
  const { response } = stage;
  const bytes = Buffer.from(fault.body ?? DEFAULT_SLOW_BODY);
  const chunk = Math.max(1, fault.chunkBytes ?? 1);
  response.writeHead(fault.status ?? 200, {
    'content-type': 'text/plain; charset=utf-8',
    // A declared length makes the client wait for every byte instead of reading a short body.
    'content-length': String(bytes.length),
  });
  response.flushHeaders();
  let offset = 0;
  const next = (): void => {
    const end = Math.min(bytes.length, offset + chunk);
    const piece = bytes.subarray(offset, end);
    offset = end;
    if (offset >= bytes.length) response.end(piece);
    else {
      response.write(piece);
      stage.after(fault.intervalMs, next);
    }
  };
  if (bytes.length === 0) response.end();
  else stage.after(fault.intervalMs, next);
}
