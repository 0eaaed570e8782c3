import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { MAX_DURATION_MS, parseDuration } from '../domain/duration.js';
import { PayloadTooLargeError, ValidationError } from '../domain/errors.js';
import { messageHeaderIssues } from '../domain/headers.js';
import { guardJson } from '../domain/json-guard.js';
import { IDENTIFIER_RULE, isValidIdentifier, isValidTraceparent, MAX_DATE_MS, MAX_PRIORITY, MIN_PRIORITY, TRACEPARENT_RULE, type NewMessage } from '../domain/message.js';

const identifier = z.string().refine(isValidIdentifier, IDENTIFIER_RULE);


const WHEN = 'an ISO 8601 time with a time zone (2026-01-31T12:00:00Z) or epoch milliseconds (a whole number, 0 or more)';
const epochMs = z.number({ error: WHEN }).int(WHEN).nonnegative(WHEN);

export const messageInputSchema = z
  .object({
    id: identifier.optional(),
    key: identifier.optional(),
    type: identifier.optional(),
    data: z.unknown().refine((v) => v !== undefined, 'data is required: the JSON payload to deliver'),
    metadata: z
      .object({
        tenantId: z.string().max(200).optional(),
        correlationId: z.string().max(200).optional(),
        callerId: z.string().max(200).optional(),
        traceparent: z.string().refine(isValidTraceparent, TRACEPARENT_RULE).optional(),
        /** Checked by messageHeaderIssues (names, values, reserved names, limits). */
        headers: z.record(z.string(), z.string()).optional(),
      })
      .strict()
      .optional(),
    /** ISO 8601 time or epoch milliseconds. */
    deliverAt: z.union([z.iso.datetime({ offset: true, error: WHEN }), epochMs], { error: WHEN }).optional(),
    /** Relative delay, e.g. `30s`; a bare number is refused (its unit would be a guess). */
    delay: z.string({ error: 'a duration: write it like 250ms, 30s or 5m (a bare number is refused)' }).optional(),
    /** Plain queues: higher is delivered first. */
    priority: z
      .number({ error: `an integer from ${MIN_PRIORITY} to ${MAX_PRIORITY}` })
      .int(`an integer from ${MIN_PRIORITY} to ${MAX_PRIORITY}`)
      .min(MIN_PRIORITY, `at least ${MIN_PRIORITY}`)
      .max(MAX_PRIORITY, `at most ${MAX_PRIORITY}`)
      .describe('Plain queues only: among due messages, higher is delivered first (oldest first within one). Default 0. Refused on fifo queues and topics.')
      .optional(),
    /** Plain queues: not delivered after this time (ISO 8601 or epoch milliseconds), dead-lettered as expired. */
    expiresAt: z
      .union([z.iso.datetime({ offset: true, error: WHEN }), epochMs], { error: WHEN })
      .describe('Plain queues only: after this time the message is not attempted again but dead-lettered with reason expired. Refused on fifo queues and topics.')
      .optional(),
    /** Plain queues: time to live from when the message is due, e.g. `5m`. */
    ttl: z
      .string({ error: 'a duration: write it like 30s, 5m or 2h (a bare number is refused)' })
      .describe('Plain queues only, instead of expiresAt: time to live from when the message is due (now, or its deliverAt), e.g. 15m; at most 36500d.')
      .optional(),
  })
  .strict();

export const batchInputSchema = z.object({ messages: z.array(z.unknown()).min(1, 'send at least one message').max(1000, 'at most 1000 messages per batch') }).strict();

export type MessageInput = z.infer<typeof messageInputSchema>;

export interface InputContext {
  kind: 'queue' | 'fifo' | 'topic';
  channel: string;
  maxPayload: number;
  /** Deepest nesting of `data` (delivery.maxDepth). */
  maxDepth: number;
  /** Lower-case header names the channel's endpoint(s) set; a message may not set them. */
  configuredHeaders: ReadonlySet<string>;
  now: number;
  idempotencyKey?: string;
}

export function issuesOf(error: z.ZodError, prefix = ''): Array<{ path: string; message: string }> {
  const issues = error.issues.map((i) => ({ path: [prefix, ...i.path.map(String)].filter(Boolean).join('.') || '(body)', message: messageOf(i) }));
  // One value can fail two checks with the same words (1e308: not a safe integer, and too big).
  return issues.filter((issue, i) => issues.findIndex((o) => o.path === issue.path && o.message === issue.message) === i);
}

/** Zod reports a refused record key (a metadata header name) only as "Invalid key in record"; the reason is nested. */
function messageOf(issue: z.core.$ZodIssue): string {
  if (issue.code === 'invalid_key' && issue.issues[0]) return `${issue.issues[0].message} ('${String(issue.path.at(-1))}')`;
  return issue.message;
}

/** Validates one message from a producer and turns it into what the store keeps. */
/**
 * `rawData` is the text of `data` as it arrived (see raw-json.ts); stored as is, so the receiver
 * gets the producer's exact bytes. Without it (a caller that has only the value) it is serialized.
 */
export function toNewMessage(body: unknown, ctx: InputContext, path = '', rawData?: string): NewMessage {
  if (body === undefined && !path) throw new ValidationError('the body is empty; send a JSON object such as { "data": { ... } }', [{ path: '(body)', message: 'required' }]);
  const parsed = messageInputSchema.safeParse(body);
  if (!parsed.success) throw new ValidationError(`invalid message${path ? ` at ${path}` : ''}: ${messageOf(parsed.error.issues[0]!)}`, issuesOf(parsed.error, path));
  const input = parsed.data;
  if (input.id !== undefined && ctx.idempotencyKey !== undefined && input.id !== ctx.idempotencyKey) {
    throw new ValidationError(`the Idempotency-Key header ('${ctx.idempotencyKey.slice(0, 200)}') and the body's id ('${input.id}') differ: both name the message; send one of them, or the same value`, [{ path: 'Idempotency-Key', message: 'differs from id' }]);
  }
  if (input.id === undefined && ctx.idempotencyKey !== undefined && !isValidIdentifier(ctx.idempotencyKey)) {
    throw new ValidationError(`the Idempotency-Key header becomes the message id: ${IDENTIFIER_RULE}`, [{ path: 'Idempotency-Key', message: IDENTIFIER_RULE }]);
  }
  if (ctx.kind === 'fifo' && input.key === undefined) {
    throw new ValidationError(`'${ctx.channel}' is a fifo queue: every message needs a key (the aggregate id)`, [{ path: `${path ? `${path}.` : ''}key`, message: 'required on a fifo queue' }]);
  }
  const at = path ? ` at ${path}` : '';
  const fieldPath = (name: string) => `${path ? `${path}.` : ''}${name}`;
  if (input.metadata?.headers) {
    const issues = messageHeaderIssues(input.metadata.headers, ctx.configuredHeaders);
    if (issues.length > 0) {
      throw new ValidationError(
        `invalid message${at}: ${issues[0]!.message}`,
        issues.map((i) => ({ path: fieldPath(i.name ? `metadata.headers.${i.name}` : 'metadata.headers'), message: i.message })),
      );
    }
  }
  // The raw body was checked against the limit plus the batch envelope; data itself is checked exactly.
  const data = rawData ?? JSON.stringify(input.data);
  const guarded = guardJson(data, ctx.maxDepth);
  if (!guarded.ok) {
    throw new ValidationError(`data${at} nests objects and arrays deeper than ${ctx.maxDepth} levels (delivery.maxDepth); flatten it`, [{ path: fieldPath('data'), message: `deeper than ${ctx.maxDepth} levels` }]);
  }
  const metadataBytes = input.metadata ? Buffer.byteLength(JSON.stringify(input.metadata)) : 0;
  const bytes = Buffer.byteLength(data) + metadataBytes;
  if (bytes > ctx.maxPayload) {
    const what = metadataBytes > 0 ? `data and metadata${at} are ${bytes} bytes` : `data${at} is ${bytes} bytes`;
    throw new PayloadTooLargeError(`${what}; the limit is ${ctx.maxPayload} (delivery.maxPayload)`);
  }
  let deliverAt: number | null = null;
  if (input.deliverAt !== undefined) deliverAt = typeof input.deliverAt === 'number' ? input.deliverAt : Date.parse(input.deliverAt);
  if (input.delay !== undefined && input.deliverAt !== undefined) {
    throw new ValidationError(`invalid message${at}: give deliverAt or delay, not both`, [{ path: fieldPath('delay'), message: 'give deliverAt or delay, not both' }]);
  }
  if (input.delay !== undefined) {
    const ms = parseDuration(input.delay);
    if (ms === undefined) throw new ValidationError(`delay${at} '${input.delay}' is not a duration: write it like 250ms, 30s or 5m`, [{ path: fieldPath('delay'), message: 'not a duration' }]);
    deliverAt = ctx.now + ms;
  }
  // Beyond the largest date JavaScript can represent the message could be stored but never shown.
  if (deliverAt !== null && !(deliverAt <= MAX_DATE_MS)) {
    const field = input.delay !== undefined ? 'delay' : 'deliverAt';
    throw new ValidationError(`${field}${at} is too far in the future: the latest possible time is ${new Date(MAX_DATE_MS).toISOString()}`, [{ path: fieldPath(field), message: 'too far in the future' }]);
  }
  if (deliverAt !== null && ctx.kind === 'topic') {
    const field = input.delay !== undefined ? 'delay' : 'deliverAt';
    throw new ValidationError('topics deliver in publish order; deliverAt and delay are for queues', [{ path: fieldPath(field), message: 'for queues only: topics deliver in publish order' }]);
  }
  const message: NewMessage = {
    id: input.id ?? ctx.idempotencyKey ?? randomUUID(),
    key: input.key ?? null,
    type: input.type ?? `${ctx.channel}.message`,
    data,
    metadata: input.metadata ?? {},
    deliverAt,
  };
  return withFlowFields(message, input, ctx, fieldPath);
}

/**
 * Priority and expiry: plain queues only (fifo queues and topics promise order). `ttl` counts
 * from when the message is due (its deliverAt, or now); an expiry that has passed, or that comes
 * before the message is due, is refused: the message could never be delivered.
 */
function withFlowFields(message: NewMessage, input: MessageInput, ctx: InputContext, fieldPath: (name: string) => string): NewMessage {
  const given = (['priority', 'expiresAt', 'ttl'] as const).filter((f) => input[f] !== undefined);
  if (given.length === 0) return message;
  // A batch's detail names the message too (`messages.3.priority: …`): the whole batch is refused for it.
  const refuse = (field: string, why: string): never => {
    throw new ValidationError(`${fieldPath(field)}: ${why}`, [{ path: fieldPath(field), message: why }]);
  };
  if (ctx.kind !== 'queue') {
    const order = ctx.kind === 'fifo' ? `'${ctx.channel}' is a fifo queue: it delivers each key in order` : `'${ctx.channel}' is a topic: it delivers in publish order`;
    refuse(given[0]!, `${given[0] === 'priority' ? 'priority' : 'expiry'} is for plain queues; ${order}, so no message may ${given[0] === 'priority' ? 'overtake another' : 'drop out of it'}`);
  }
  if (input.priority !== undefined) message.priority = input.priority;
  if (input.expiresAt !== undefined && input.ttl !== undefined) refuse('ttl', 'give expiresAt or ttl, not both');
  // A deliverAt that has passed makes the message due now (as the stores count a queue's ttl).
  const due = Math.max(ctx.now, message.deliverAt ?? ctx.now);
  let expiresAt: number | undefined;
  if (input.ttl !== undefined) {
    const ms = parseDuration(input.ttl);
    if (ms === undefined || ms <= 0) refuse('ttl', `'${input.ttl}' is not a duration longer than 0: write it like 30s, 5m or 2h`);
    if (ms! > MAX_DURATION_MS) refuse('ttl', `'${input.ttl}' is longer than ${MAX_DURATION_MS / 86_400_000}d, the longest duration taken`);
    expiresAt = due + ms!;
  } else if (input.expiresAt !== undefined) {
    expiresAt = typeof input.expiresAt === 'number' ? input.expiresAt : Date.parse(input.expiresAt);
    if (expiresAt <= ctx.now) refuse('expiresAt', `${new Date(expiresAt).toISOString()} has passed: the message could never be delivered`);
    if (expiresAt <= due) refuse('expiresAt', 'is not after deliverAt: the message would expire before it is due');
  }
  if (expiresAt !== undefined) {
    if (!(expiresAt <= MAX_DATE_MS)) refuse(input.ttl !== undefined ? 'ttl' : 'expiresAt', `too far in the future: the latest possible time is ${new Date(MAX_DATE_MS).toISOString()}`);
    message.expiresAt = expiresAt;
  }
  return message;
}
