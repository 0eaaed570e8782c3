import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { parseDuration } from '../domain/duration.js';
import { PayloadTooLargeError, ValidationError } from '../domain/errors.js';
import { messageHeaderIssues } from '../domain/headers.js';
import { guardJson } from '../domain/json-guard.js';
import { IDENTIFIER_RULE, isValidIdentifier, type NewMessage } from '../domain/message.js';

const identifier = z.string().refine(isValidIdentifier, IDENTIFIER_RULE);

/** The largest time a JavaScript Date holds (ECMA-262 §21.4.1.1). */
const MAX_DATE_MS = 8_640_000_000_000_000;

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
        traceparent: z.string().regex(/^[\da-f]{2}-[\da-f]{32}-[\da-f]{16}-[\da-f]{2}$/, 'a W3C traceparent: 00-<32 hex>-<16 hex>-<2 hex>').optional(),
        /** Checked by messageHeaderIssues (names, values, reserved names, limits). */
        headers: z.record(z.string(), z.string()).optional(),
      })
      .strict()
      .optional(),
    /** ISO 8601 time or epoch milliseconds. */
    deliverAt: z.union([z.iso.datetime({ offset: true }), z.number().int().nonnegative()]).optional(),
    /** Relative delay, e.g. `30s`; a bare number is refused (its unit would be a guess). */
    delay: z.string({ error: 'a duration: write it like 250ms, 30s or 5m (a bare number is refused)' }).optional(),
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
  return error.issues.map((i) => ({ path: [prefix, ...i.path.map(String)].filter(Boolean).join('.') || '(body)', message: messageOf(i) }));
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
  if (input.delay !== undefined) {
    const ms = parseDuration(input.delay);
    if (ms === undefined) throw new ValidationError(`delay '${input.delay}' is not a duration: write it like 250ms, 30s or 5m`, [{ path: `${path ? `${path}.` : ''}delay`, message: 'not a duration' }]);
    deliverAt = ctx.now + ms;
  }
  // Beyond the largest date JavaScript can represent the message could be stored but never shown.
  if (deliverAt !== null && !(deliverAt <= MAX_DATE_MS)) {
    const field = input.delay !== undefined ? 'delay' : 'deliverAt';
    throw new ValidationError(`${field} is too far in the future: the latest possible time is ${new Date(MAX_DATE_MS).toISOString()}`, [{ path: `${path ? `${path}.` : ''}${field}`, message: 'too far in the future' }]);
  }
  if (deliverAt !== null && ctx.kind === 'topic') throw new ValidationError('topics deliver in publish order; deliverAt and delay are for queues');
  return {
    id: input.id ?? ctx.idempotencyKey ?? randomUUID(),
    key: input.key ?? null,
    type: input.type ?? `${ctx.channel}.message`,
    data,
    metadata: input.metadata ?? {},
    deliverAt,
  };
}
