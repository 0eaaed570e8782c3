import { readLimited } from './body.js';
import { parseCloudEvents, type ReceivedEvent } from './cloud-events.js';
import type { Inbox } from './inbox.js';
import { AppliedThrough, Ok, PermanentFailure, RetryAfter, type HandlerResult } from './outcomes.js';
import { json, problem, toResponse, type ReceiverResponse } from './responses.js';
import { webhookSecretProblem } from './webhook-secret.js';
import { createSignatureVerifier } from './signature.js';
import { issuePath, type InferOutput, type StandardSchemaV1 } from './standard-schema.js';

/** What a handler knows about the delivery besides the event. */
export interface DeliveryContext<Tx> {
  /** The inbox's transaction (a pg client inside BEGIN, or the SQLite database); undefined without an inbox. */
  tx: Tx;
  /** Offload's `Idempotency-Key`: the message id, or `first..last` for a batch. */
  idempotencyKey: string | undefined;
  /** The event's `deliveryattempt`, 1 on the first attempt. */
  attempt: number;
  /** Position within a batch; `{ index: 0, size: 1 }` for a single event. */
  batch: { index: number; size: number };
  /** A request header by its name in any letter case (`Offload-Lane` or `offload-lane`), or undefined. */
  header(name: string): string | undefined;
  /**
   * Ordered targets (fifo, `ordering: key|topic`): the lane, this event's gap-free position in
   * it, and the id of the lane's message delivered before it. Undefined for plain queues.
   */
  lane: LaneInfo | undefined;
  /**
   * Asynchronous acknowledgement: answers 202 instead of 200 and returns the completion token
   * (the `Offload-Completion-Token` header). Offload keeps the delivery in flight (its lane
   * blocked) until the work reports its outcome with the token (`client.complete(token, …)`) or
   * the target's `asyncTimeout` passes. Only for single events, without an inbox (the deferred
   * work keeps its own record), on targets with `asyncTimeout` (else there is no token: throws).
   */
  defer(): string;
}

export interface LaneInfo {
  /** The key, or `''` for the one lane of a topic-ordered subscription. */
  key: string;
  position: number;
  previousId: string | null;
}

export type EventHandler<Data, Tx> = (event: ReceivedEvent<Data>, context: DeliveryContext<Tx>) => HandlerResult | Promise<HandlerResult>;

/** A handler whose event `data` is checked first; data the schema refuses is a permanent 422. */
export interface SchemaHandler<Data, Tx> {
  schema: StandardSchemaV1<unknown, Data>;
  // Method syntax on purpose: it lets a handler for one data type sit in a map of handlers.
  handle(event: ReceivedEvent<Data>, context: DeliveryContext<Tx>): HandlerResult | Promise<HandlerResult>;
}

export type HandlerEntry<Tx> = EventHandler<unknown, Tx> | SchemaHandler<unknown, Tx>;

/**
 * A typed handler: `withSchema(z.object({...}), (event) => ...)` gives `event.data` the schema's
 * type. Written inside `createReceiver({ handlers })` its context's `tx` is the inbox's
 * transaction, typed loosely (TypeScript does not carry the inbox's type into the call); declared
 * on its own with a type (`const h: HandlerEntry<PoolClient> = withSchema(...)`) or as
 * `withSchema<typeof schema, PoolClient>(...)`, `tx` has the inbox's exact type.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the loose default is what lets `tx.query(...)` compile inside createReceiver
export function withSchema<S extends StandardSchemaV1, Tx = any>(
  schema: S,
  handle: EventHandler<InferOutput<S>, Tx>,
): SchemaHandler<InferOutput<S>, Tx> {
  return { schema: schema as StandardSchemaV1<unknown, InferOutput<S>>, handle };
}

/** `Tx` as given elsewhere (by the inbox), never inferred from the handlers (what `NoInfer` does in TypeScript 5.4+). */
type Fixed<T> = [T][T extends unknown ? 0 : never];

export interface ReceiverOptions<Tx = undefined> {
  /**
   * Signing secrets (`whsec_…` or plain strings, as in Offload's endpoint `secret`/`secrets`).
   * A request is accepted when any signature matches any secret, so during a rotation list both.
   * An empty list is refused unless `allowUnsigned` is set.
   */
  secrets: string | readonly string[];
  /** Accept requests without verifying a signature (development only). Default false. */
  allowUnsigned?: boolean;
  /** Replay window: how far `webhook-timestamp` may be from now, in seconds. Default 300. */
  tolerance?: number;
  /** Handler per event `type`; `'*'` handles any type without its own. */
  handlers: Record<string, HandlerEntry<Fixed<Tx>>>;
  /** Records each event id in the handler's own transaction: effects happen once per message. */
  inbox?: Inbox<Tx>;
  /**
   * Enforce "in order, no gaps" per lane: an event whose lane position is past the one after the
   * last applied (kept by the inbox, in the handler's transaction) is refused with a permanent
   * 422, so Offload stalls or parks the lane for an operator instead of applying it out of order.
   * An event at or before the last applied position was applied already (a repeat, or a replay
   * after a subscription seek, which rewinds positions): it is answered as a duplicate without
   * running the handler. The first event seen of a lane is accepted at any position, so a
   * receiver that starts over (read model, inbox and lane positions emptied, or a new
   * `inboxScope`) applies a replay from its first event. Needs an inbox. Default false.
   */
  inOrder?: boolean;
  /** Prefixes inbox keys, for receivers that share an inbox table and may see the same ids. Default none. */
  inboxScope?: string;
  /** Largest body read, in bytes (413 above). Default 32 MiB. */
  maxBodyBytes?: number;
  /** Most events in one batch (400 above). Default 1000. */
  maxBatch?: number;
  /** Told about every exception a handler throws that is not an outcome. Default console.error. */
  onError?: (error: unknown, event: ReceivedEvent) => void;
  /** Clock in ms for the replay window. Default Date.now. */
  now?: () => number;
}

/** A request as the framework adapters hand it over: headers and the exact body bytes. */
export interface RawDelivery {
  method: string;
  /** A request header; the receiver asks by lower-case name (as Node's `request.headers` holds them). */
  header(name: string): string | undefined;
  body: Uint8Array;
}

export interface Receiver {
  /** The Web-standard handler (Next.js route handlers, Bun, Deno, Cloudflare Workers). */
  fetch(request: Request): Promise<Response>;
  /** The same for adapters that read the body themselves. */
  handle(delivery: RawDelivery): Promise<ReceiverResponse>;
  readonly maxBodyBytes: number;
}

const decoder = new TextDecoder('utf-8', { fatal: true });
/** What an inbox run answers for an event whose lane position was applied already. */
const ALREADY_APPLIED = Symbol('already applied');

export function createReceiver<Tx = undefined>(options: ReceiverOptions<Tx>): Receiver {
  const secrets = typeof options.secrets === 'string' ? [options.secrets] : [...options.secrets];
  if (secrets.some((s) => typeof s !== 'string' || s === '')) throw new TypeError('receiver secrets must be non-empty strings');
  secrets.forEach((secret, i) => {
    const problem = webhookSecretProblem(secret);
    if (problem) throw new TypeError(`receiver secrets[${i}]: ${problem}`);
  });
  if (secrets.length === 0 && options.allowUnsigned !== true) {
    throw new TypeError('createReceiver needs at least one secret; pass allowUnsigned: true to accept unsigned requests (development only)');
  }
  const tolerance = options.tolerance ?? 300;
  // NaN or Infinity (an unset variable read with Number()) would turn the replay check off.
  if (typeof tolerance !== 'number' || !Number.isFinite(tolerance) || tolerance <= 0) {
    throw new TypeError(`receiver tolerance must be a number of seconds above 0 (default 300), not ${String(tolerance)}: it is the replay window`);
  }
  for (const [name, value] of [['maxBodyBytes', options.maxBodyBytes], ['maxBatch', options.maxBatch]] as const) {
    if (value !== undefined && !(Number.isSafeInteger(value) && value > 0)) throw new TypeError(`receiver ${name} must be a whole number above 0, not ${String(value)}`);
  }
  const verifier = secrets.length > 0 ? createSignatureVerifier(secrets, tolerance) : undefined;
  const maxBodyBytes = options.maxBodyBytes ?? 32 * 1024 * 1024;
  const maxBatch = options.maxBatch ?? 1000;
  const now = options.now ?? Date.now;
  const onError = options.onError ?? ((error: unknown, event: ReceivedEvent) => console.error(`handler for ${event.type} (${event.id}) failed:`, error));
  const handlers = new Map(Object.entries(options.handlers));
  const scope = options.inboxScope === undefined ? '' : `${options.inboxScope}:`;
  const lanes = options.inOrder === true ? options.inbox?.lanes : undefined;
  if (options.inOrder === true && lanes === undefined) throw new TypeError('inOrder needs an inbox that keeps lane positions (postgresInbox or sqliteInbox)');

  async function handle(delivery: RawDelivery): Promise<ReceiverResponse> {
    if (delivery.method !== 'POST') return problem(405, 'method-not-allowed', 'deliveries are POST requests', {}, { allow: 'POST' });
    if (verifier) {
      const failure = await verifier.verify(
        { id: delivery.header('webhook-id'), timestamp: delivery.header('webhook-timestamp'), signature: delivery.header('webhook-signature') },
        delivery.body,
        now(),
      );
      if (failure) return problem(401, `signature-${failure.reason}`, failure.detail);
    }
    let text: string;
    try {
      text = decoder.decode(delivery.body);
    } catch {
      return problem(400, 'invalid-body', 'body is not UTF-8');
    }
    const parsed = parseCloudEvents(delivery.header('content-type'), text, maxBatch);
    if ('error' in parsed) return problem(parsed.status, 'invalid-body', parsed.error);
    const { events, batch } = parsed;
    let duplicates = 0;
    let result: unknown;
    let deferred = false;
    const defer = (): string => {
      if (options.inbox) throw new TypeError('defer() cannot be used with an inbox: the inbox would record the event as applied before the deferred work is done; keep the deferred work\'s own record');
      if (events.length > 1) throw new TypeError('defer() is for single events; a batch answers with appliedThrough instead');
      const token = delivery.header('offload-completion-token');
      if (token === undefined || token === '') throw new TypeError('this delivery carries no Offload-Completion-Token: set asyncTimeout on the queue or subscription to let endpoints complete asynchronously');
      deferred = true;
      return token;
    };
    for (const [index, event] of events.entries()) {
      const context = {
        idempotencyKey: delivery.header('idempotency-key'),
        attempt: event.deliveryattempt ?? 1,
        batch: { index, size: events.length },
        header: (name: string) => delivery.header(name.toLowerCase()),
        lane: laneOf(event),
        defer,
      };
      const outcome = await runOne(event, context);
      if (outcome.kind === 'stop') {
        const applied = outcome.included ? index + 1 : events.slice(0, index).findIndex((e) => e.id === outcome.through) + 1;
        if (applied === 0 || (outcome.included && outcome.through !== event.id)) {
          onError(new TypeError(`appliedThrough('${outcome.through}') names no event applied before ${event.id} in this batch`), event);
          return problem(500, 'handler-error', `the handler for ${event.type} returned appliedThrough('${outcome.through}'), which names no event applied in this batch`);
        }
        if (outcome.included && outcome.duplicate) duplicates++;
        if (!batch) return json(200, { ok: true });
        return json(200, { ok: true, appliedThrough: outcome.through, applied, duplicates });
      }
      if (outcome.kind === 'failed') {
        // A batch answers which prefix it applied: those events are done (and recorded in the inbox).
        const extra = batch ? { appliedThrough: index > 0 ? events[index - 1]!.id : null, failedEvent: event.id } : {};
        return withExtra(outcome.response, extra);
      }
      if (outcome.duplicate) duplicates++;
      result = outcome.result;
    }
    if (deferred) return json(202, { ok: true, deferred: true });
    if (batch) return json(200, { ok: true, applied: events.length, duplicates });
    if (result !== undefined) return json(200, result);
    return json(200, duplicates > 0 ? { ok: true, duplicate: true } : { ok: true });
  }

  type RunOutcome =
    | { kind: 'done'; duplicate: boolean; result: unknown }
    | { kind: 'failed'; response: ReceiverResponse }
    /** appliedThrough: `included` when the current event was applied (the id is its own). */
    | { kind: 'stop'; through: string; included: boolean; duplicate: boolean };

  async function runOne(event: ReceivedEvent, context: Omit<DeliveryContext<Tx>, 'tx'>): Promise<RunOutcome> {
    const entry = handlers.get(event.type) ?? handlers.get('*');
    if (entry === undefined) {
      const known = [...handlers.keys()].join(', ') || '(none)';
      return { kind: 'failed', response: problem(422, 'unknown-type', `no handler for event type ${event.type}; handlers: ${known}`) };
    }
    let input: ReceivedEvent = event;
    const call = async (tx: Tx) => {
      const value = await (typeof entry === 'function' ? entry(input, { ...context, tx }) : entry.handle(input, { ...context, tx }));
      // Checked before an inbox commits: a result that cannot be answered fails the event (500, onError).
      if (value instanceof Ok) assertSendable(value.result, event);
      return value;
    };
    try {
      if (typeof entry !== 'function') {
        // Inside the try: a schema that throws (a transform, a refinement) is the handler's error, not the framework's.
        const checked = await entry.schema['~standard'].validate(event.data);
        if (checked.issues) {
          const errors = checked.issues.map((issue) => ({ path: issuePath(issue), message: issue.message }));
          return { kind: 'failed', response: problem(422, 'invalid-data', `data of ${event.type} ${event.id} does not match the handler's schema`, { errors }) };
        }
        input = { ...event, data: checked.value };
      }
      if (!options.inbox) return done(false, await call(undefined as Tx), event.id);
      const ran = await options.inbox.run(`${scope}${event.source} ${event.id}`, async (tx) => {
        const lane = context.lane;
        const laneKey = lane === undefined ? undefined : `${scope}${event.source} ${lane.key}`;
        if (lanes !== undefined && lane !== undefined && laneKey !== undefined) {
          const last = await lanes.position(tx, laneKey);
          // Positions are gap-free and a repeat carries its first position, so a position at or
          // before the last applied one was applied already: a repeat the inbox forgot, or a
          // replay after a seek (which rewinds positions). It is answered as a duplicate.
          if (last !== undefined && lane.position <= last) return ALREADY_APPLIED;
          if (last !== undefined && lane.position !== last + 1) {
            throw new PermanentFailure(`gap in lane '${lane.key}': the last applied is position ${last}, this event is ${lane.position} (previous ${lane.previousId ?? 'none'})`);
          }
          await lanes.advance(tx, laneKey, lane.position);
        }
        const value = await call(tx);
        // A returned failure rolls the transaction back exactly like a thrown one; so does a stop before this event.
        if (value instanceof RetryAfter || value instanceof PermanentFailure) throw value;
        if (value instanceof AppliedThrough && value.id !== event.id) throw value;
        return value;
      });
      return ran.duplicate || ran.value === ALREADY_APPLIED ? done(true, undefined, event.id) : done(false, ran.value as HandlerResult, event.id);
    } catch (error) {
      return failure(error, event);
    }
  }

  function done(duplicate: boolean, value: HandlerResult, id: string): RunOutcome {
    if (value instanceof RetryAfter || value instanceof PermanentFailure) return failure(value, undefined);
    if (value instanceof AppliedThrough) return { kind: 'stop', through: value.id, included: value.id === id, duplicate };
    return { kind: 'done', duplicate, result: value instanceof Ok ? value.result : undefined };
  }

  function failure(error: unknown, event: ReceivedEvent | undefined): RunOutcome {
    if (error instanceof AppliedThrough) return { kind: 'stop', through: error.id, included: false, duplicate: false };
    if (error instanceof RetryAfter) {
      return { kind: 'failed', response: problem(503, 'retry-after', error.message, {}, { 'retry-after': String(error.seconds) }) };
    }
    if (error instanceof PermanentFailure) return { kind: 'failed', response: problem(422, 'permanent', error.message) };
    if (event) onError(error, event);
    return { kind: 'failed', response: problem(500, 'handler-error', `the handler for ${event?.type ?? 'this event'} failed; the receiver's log has the error`) };
  }

  return {
    maxBodyBytes,
    handle,
    async fetch(request) {
      const body = request.method === 'POST' ? await readLimited(request, maxBodyBytes) : new Uint8Array(0);
      if (body === undefined) return toResponse(problem(413, 'payload-too-large', `body over ${maxBodyBytes} bytes`));
      const response = await handle({ method: request.method, header: (name) => request.headers.get(name) ?? undefined, body });
      return toResponse(response);
    },
  };
}

/** An ok() result is answered as JSON: one that JSON cannot hold (a BigInt, a cycle) is the handler's error. */
function assertSendable(result: unknown, event: ReceivedEvent): void {
  try {
    JSON.stringify(result);
  } catch (error) {
    throw new TypeError(`the handler for ${event.type} returned ok() with a result that cannot be sent as JSON: ${(error as Error).message}`);
  }
}

function laneOf(event: ReceivedEvent): LaneInfo | undefined {
  if (typeof event.laneposition !== 'number' || typeof event.lane !== 'string') return undefined;
  return { key: event.lane, position: event.laneposition, previousId: typeof event.laneprevious === 'string' ? event.laneprevious : null };
}

function withExtra(response: ReceiverResponse, extra: Record<string, unknown>): ReceiverResponse {
  if (Object.keys(extra).length === 0) return response;
  return { ...response, body: JSON.stringify({ ...(JSON.parse(response.body) as object), ...extra }) };
}
