/**
 * TypeScript client for Offload's HTTP API (SPEC §9). Uses the global fetch; no dependencies, so
 * API hosts can import it without pulling in the server.
 */

export interface MessageInput {
  id?: string;
  key?: string;
  type?: string;
  data: unknown;
  metadata?: { tenantId?: string; correlationId?: string; callerId?: string; traceparent?: string; headers?: Record<string, string> };
  /** ISO time or epoch ms. */
  deliverAt?: string | number;
  /** Relative delay such as `30s`. */
  delay?: string;
  /** Plain queues: an integer from -100 to 100, higher delivered first. Default 0. */
  priority?: number;
  /** Plain queues: ISO time or epoch ms after which the message is not delivered but dead-lettered (reason `expired`). */
  expiresAt?: string | number;
  /** Plain queues: time to live from when the message is due, such as `5m` (instead of expiresAt; at most 36500d). */
  ttl?: string;
}

/**
 * Message data given as JSON text, sent exactly as written (`1.10` stays `1.10`, large integers
 * keep every digit), where a parsed value would be re-serialized. The text must be JSON.
 */
export class RawJson {
  constructor(readonly text: string) {
    JSON.parse(text); // throws a SyntaxError for text that is not JSON
  }
}

/** `data: rawJson('{"price":1.10}')`: the data exactly as written (see RawJson). */
export const rawJson = (text: string): RawJson => new RawJson(text);

/** JSON.stringify, with each RawJson written as its own text. */
function serializeBody(body: unknown): string {
  const raws: string[] = [];
  const marker = `\u0000offload-raw-${Math.random().toString(36).slice(2)}-`;
  const text = JSON.stringify(body, (_key, value: unknown) => (value instanceof RawJson ? `${marker}${raws.push(value.text) - 1}` : value));
  if (raws.length === 0) return text;
  // Each RawJson became the string "<marker><n>": a random marker, so no string of the data is taken for one.
  const escaped = JSON.stringify(marker).slice(1, -1);
  return text.replace(new RegExp(`"${escaped.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&')}(\\d+)"`, 'g'), (_m, i: string) => raws[Number(i)]!);
}

export interface SendResult {
  id: string;
  status: string;
  duplicate?: boolean;
  sequence?: number;
}

/** What a seek did: the point as a sequence, events made undelivered again, events skipped, calls fenced. */
export interface SeekAnswer {
  subscription: string;
  sequence: number;
  replayed: number;
  skipped: number;
  fenced: number;
}

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  errors?: Array<{ path: string; message: string }>;
}

export class OffloadApiError extends Error {
  constructor(
    readonly status: number,
    readonly problem: Problem | undefined,
    message: string,
    /** A 429 (the channel is over its maxDepth): how long the server asked to wait. */
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'OffloadApiError';
  }
}

export interface ClientOptions {
  /** Base URL, e.g. http://127.0.0.1:8080. */
  url: string;
  apiKey?: string;
  fetch?: typeof fetch;
  /**
   * Sends refused with 429 (the channel is at or over its maxDepth or maxOldestAge; nothing was
   * stored) are sent again after the server's Retry-After, up to `attempts` times in all and
   * waiting at most `maxWaitMs` each time; then the 429 is thrown as an OffloadApiError with
   * `retryAfterMs`. Default `{ attempts: 5, maxWaitMs: 30000 }`; `{ attempts: 1 }` never retries.
   */
  throttled?: { attempts?: number; maxWaitMs?: number };
  /** How the client waits before sending again (tests pass a fake). Default a timer. */
  sleep?: (ms: number) => Promise<void>;
}

export interface Page<T> {
  items: T[];
  next: string | null;
}

/** Items are the API's JSON as is; see GET /openapi.json for their fields. */
export type Json = Record<string, unknown>;

export interface DrainOptions {
  /** Queues, topics (every subscription) or `topic/subscription`; every channel when left out. */
  channels?: string[];
  /** How long to wait at most: `10s`, or milliseconds. Default 30s, at most 2m. */
  timeout?: string | number;
  /** Treat retries waiting for their backoff (or Retry-After) as due now. Default false. */
  skipBackoff?: boolean;
  /** Rounds at most; work created by deliveries is the next round's. Default 100. */
  maxRounds?: number;
}

/** Why a message is not delivered (yet). */
export type UndeliveredReason = 'due' | 'in-flight' | 'awaiting-completion' | 'fenced' | 'scheduled' | 'retrying' | 'parked' | 'stalled' | 'paused' | 'breaker-open' | 'retry-after' | 'deadlettered' | 'skipped';

export interface UndeliveredMessage {
  id: string;
  channel: string;
  /** The queue, or `topic/subscription`. */
  target: string;
  key: string | null;
  type: string;
  status: string;
  reason: UndeliveredReason;
  attempts: number;
  /** ISO time of the next attempt; null for dead-lettered and skipped messages. */
  availableAt: string | null;
  lastError: string | null;
  /** `awaiting-completion`: the deferred call's token, to complete it with `complete(token, …)` as the endpoint's work would. */
  completionToken?: string;
}

export interface DrainResult {
  /** Nothing of the drained channels is due or in flight (with skipBackoff: no retry waits either). */
  complete: boolean;
  /** Why the drain ended early: `timeout` or `rounds` (work kept creating work). */
  stoppedBy: 'timeout' | 'rounds' | null;
  rounds: number;
  elapsedMs: number;
  /** The queues and subscriptions drained. */
  targets: string[];
  /** What is not delivered and why (up to 1,000; see counts and truncated). */
  undelivered: UndeliveredMessage[];
  counts: Partial<Record<UndeliveredReason, number>>;
  truncated: boolean;
}

/**
 * The outcome of a deferred delivery (asynchronous acknowledgement). `retryAfter` in seconds;
 * `appliedThrough`: an ordered batch applied up to this event id (the rest is settled by the outcome).
 */
export type CompletionOutcome =
  | { outcome: 'delivered'; appliedThrough?: string }
  | { outcome: 'retry'; reason?: string; retryAfter?: number; appliedThrough?: string }
  | { outcome: 'permanent'; reason: string; appliedThrough?: string };

export interface CompletionResult {
  status: 'completed';
  target: string;
  lane: string | null;
  outcomes: Array<{ outcome: 'delivered' | 'retrying' | 'deadlettered' | 'parked' | 'stalled'; ids: string[] }>;
}

export interface OffloadClient {
  send(queue: string, message: MessageInput): Promise<SendResult>;
  sendBatch(queue: string, messages: MessageInput[]): Promise<SendResult[]>;
  publish(topic: string, message: MessageInput): Promise<SendResult>;
  publishBatch(topic: string, messages: MessageInput[]): Promise<SendResult[]>;
  getMessage(id: string, channel?: string): Promise<Json>;
  channels(): Promise<Json[]>;
  deadLetters(queue: string, page?: { limit?: number; cursor?: string }): Promise<Page<Json>>;
  redrive(queue: string, ids?: string[]): Promise<number>;
  purgeDeadLetters(queue: string, ids?: string[]): Promise<number>;
  parked(queue: string): Promise<Page<Json>>;
  retryParked(queue: string, key: string): Promise<void>;
  skipParked(queue: string, key: string): Promise<Json>;
  subscription(topic: string, subscription: string): Promise<Json>;
  retrySubscription(topic: string, subscription: string, key?: string): Promise<void>;
  skipSubscription(topic: string, subscription: string, key?: string): Promise<Json>;
  /**
   * Moves a subscription to a sequence, or to the first event published at or after a time:
   * backward replays delivered events, forward skips the undelivered ones before it (kept as
   * skipped). Answers `{ subscription, sequence, replayed, skipped, fenced }`.
   */
  seekSubscription(topic: string, subscription: string, point: { sequence: number } | { time: string | Date }): Promise<SeekAnswer>;
  pause(kind: 'queues' | 'topics', name: string): Promise<void>;
  resume(kind: 'queues' | 'topics', name: string): Promise<void>;
  /** Recurring schedules with their last and next run and whether paused. */
  schedules(): Promise<Json[]>;
  /** Pauses or resumes a schedule for every instance; answers the schedule as listed. */
  pauseSchedule(name: string): Promise<Json>;
  resumeSchedule(name: string): Promise<Json>;
  /**
   * Delivers everything due now (test setups with `testing: { drain: true }`; operator role)
   * and answers with what is left. A drain that runs out of time answers `complete: false`.
   */
  drain(options?: DrainOptions): Promise<DrainResult>;
  /**
   * Reports the outcome of a delivery the endpoint answered 202 (the token is the request's
   * `Offload-Completion-Token` header). A repeated completion throws OffloadApiError 409 with
   * problem type `urn:offload:problem:already_completed` (it was settled: safe to treat as done);
   * `urn:offload:problem:superseded` means a later attempt took the delivery over (timed out).
   */
  complete(token: string, outcome: CompletionOutcome): Promise<CompletionResult>;
}

/** An invalid Date is sent as written ('Invalid Date'), so the server's 400 says what a time must be (toISOString would throw a bare RangeError). */
const isoOf = (time: string | Date): string => (time instanceof Date ? (Number.isNaN(time.getTime()) ? String(time) : time.toISOString()) : time);

export function createClient(options: ClientOptions): OffloadClient {
  const base = options.url.replace(/\/+$/, '');
  const doFetch = options.fetch ?? fetch;
  const enc = encodeURIComponent;

  const attempts = Math.max(1, options.throttled?.attempts ?? 5);
  const maxWaitMs = options.throttled?.maxWaitMs ?? 30_000;
  // NaN (an unset variable read with Number()) would retry a 429 forever, or without waiting.
  if (!Number.isSafeInteger(attempts)) throw new TypeError(`throttled.attempts must be a whole number of tries (1 or more), not ${String(options.throttled?.attempts)}`);
  if (!(maxWaitMs >= 0) || !Number.isFinite(maxWaitMs)) throw new TypeError(`throttled.maxWaitMs must be a number of milliseconds, 0 or more, not ${String(maxWaitMs)}`);
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));

  async function once<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (options.apiKey) headers.authorization = `Bearer ${options.apiKey}`;
    const res = await doFetch(`${base}${path}`, { method, headers, body: body === undefined ? undefined : serializeBody(body) });
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text ? (JSON.parse(text) as unknown) : undefined;
    } catch {
      throw new OffloadApiError(res.status, undefined, `${method} ${path}: ${res.status}, and the answer is not JSON (is ${base} an Offload server?): ${text.slice(0, 200)}`);
    }
    if (!res.ok) {
      const problem = parsed as Problem | undefined;
      const retryAfterMs = res.status === 429 ? parseRetryAfter(res.headers.get('retry-after')) : undefined;
      throw new OffloadApiError(res.status, problem, `${method} ${path}: ${res.status} ${problem?.detail ?? text}`, retryAfterMs);
    }
    // Every Offload answer has a JSON body; an empty one would surface as a TypeError in the caller.
    if (parsed === undefined) throw new OffloadApiError(res.status, undefined, `${method} ${path}: ${res.status}, and the answer is empty, not JSON (is ${base} an Offload server?)`);
    return parsed as T;
  }

  async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await once<T>(method, path, body);
      } catch (error) {
        // A 429 stored nothing, so sending the same request again is safe.
        if (!(error instanceof OffloadApiError) || error.status !== 429 || attempt >= attempts) throw error;
        await sleep(Math.min(maxWaitMs, error.retryAfterMs ?? 1_000));
      }
    }
  }
  const query = (page?: { limit?: number; cursor?: string }) => {
    const params = new URLSearchParams();
    if (page?.limit) params.set('limit', String(page.limit));
    if (page?.cursor) params.set('cursor', page.cursor);
    const text = params.toString();
    return text ? `?${text}` : '';
  };
  const keyQuery = (key?: string) => (key === undefined ? '' : `?key=${enc(key)}`);

  return {
    send: (queue, message) => call('POST', `/v1/queues/${enc(queue)}/messages`, message),
    sendBatch: async (queue, messages) => (await call<{ items: SendResult[] }>('POST', `/v1/queues/${enc(queue)}/messages/batch`, { messages })).items,
    publish: (topic, message) => call('POST', `/v1/topics/${enc(topic)}/messages`, message),
    publishBatch: async (topic, messages) => (await call<{ items: SendResult[] }>('POST', `/v1/topics/${enc(topic)}/messages/batch`, { messages })).items,
    getMessage: (id, channel) => call('GET', `/v1/messages/${enc(id)}${channel ? `?channel=${enc(channel)}` : ''}`),
    channels: async () => (await call<Page<Json>>('GET', '/v1/channels')).items,
    deadLetters: (queue, page) => call('GET', `/v1/queues/${enc(queue)}/deadletters${query(page)}`),
    redrive: async (queue, ids) => (await call<{ redriven: number }>('POST', `/v1/queues/${enc(queue)}/deadletters/redrive`, ids ? { ids } : {})).redriven,
    purgeDeadLetters: async (queue, ids) => (await call<{ purged: number }>('DELETE', `/v1/queues/${enc(queue)}/deadletters`, ids ? { ids } : {})).purged,
    parked: (queue) => call('GET', `/v1/queues/${enc(queue)}/parked`),
    retryParked: async (queue, key) => {
      await call('POST', `/v1/queues/${enc(queue)}/parked/${enc(key)}/retry`);
    },
    skipParked: (queue, key) => call('POST', `/v1/queues/${enc(queue)}/parked/${enc(key)}/skip`),
    subscription: (topic, sub) => call('GET', `/v1/topics/${enc(topic)}/subscriptions/${enc(sub)}`),
    retrySubscription: async (topic, sub, key) => {
      await call('POST', `/v1/topics/${enc(topic)}/subscriptions/${enc(sub)}/retry${keyQuery(key)}`);
    },
    skipSubscription: (topic, sub, key) => call('POST', `/v1/topics/${enc(topic)}/subscriptions/${enc(sub)}/skip${keyQuery(key)}`),
    seekSubscription: (topic, sub, point) =>
      call('POST', `/v1/topics/${enc(topic)}/subscriptions/${enc(sub)}/seek`, 'time' in point ? { time: isoOf(point.time) } : point),
    pause: async (kind, name) => {
      await call('POST', `/v1/${kind}/${enc(name)}/pause`);
    },
    resume: async (kind, name) => {
      await call('POST', `/v1/${kind}/${enc(name)}/resume`);
    },
    schedules: async () => (await call<Page<Json>>('GET', '/v1/schedules')).items,
    pauseSchedule: (name) => call('POST', `/v1/schedules/${enc(name)}/pause`),
    resumeSchedule: (name) => call('POST', `/v1/schedules/${enc(name)}/resume`),
    drain: (drainOptions = {}) => call('POST', '/v1/drain', drainOptions),
    complete: (token, outcome) => call('POST', `/v1/deliveries/${enc(token)}/complete`, outcome),
  };
}

/** Retry-After as seconds or an HTTP date, in ms; undefined when absent or unreadable. */
function parseRetryAfter(value: string | null): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}
