import { z } from 'zod';
import { IDENTIFIER_RULE, isValidIdentifier, isValidName } from '../domain/message.js';
import { cronProblem } from '../domain/schedule.js';
import { MAX_DURATION_MS, parseDuration } from '../domain/duration.js';
import { configuredHeaderProblem, headerValueProblem } from '../domain/headers.js';
import { patternListProblem, patternProblem } from '../domain/subscription-filter.js';

/** The configuration file's shape (YAML or JSON). Every policy has a default (src/domain/channel.ts). */

const DURATION_HINT = 'write it like 250ms, 30s, 5m, 2h or 1d';
/** The longest duration a configuration takes: 100 years (36500d). */
export { MAX_DURATION_MS };
/** A bare number is refused: `timeout: 10` could mean seconds as easily as milliseconds. */
const duration = z.union([z.string(), z.number()]).transform((value, ctx) => {
  if (typeof value === 'number') {
    ctx.addIssue({ code: 'custom', message: `${value} is a bare number, not a duration: ${DURATION_HINT}` });
    return z.NEVER;
  }
  const ms = parseDuration(value);
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: `'${value}' is not a duration: ${DURATION_HINT}` });
    return z.NEVER;
  }
  // Beyond this a time computed from it (an expiry, a retention cutoff) leaves what a date or a
  // PostgreSQL bigint holds: '1e400d' would be Infinity.
  if (ms > MAX_DURATION_MS) {
    ctx.addIssue({ code: 'custom', message: `'${value}' is longer than ${MAX_DURATION_MS / 86_400_000}d, the longest duration taken` });
    return z.NEVER;
  }
  return ms;
});

/** The longest a Node.js timer waits (2^31-1 ms, about 24.8 days): a longer delay fires after 1 ms. */
const TIMER_MAX_MS = 2_147_483_647;
/**
 * A duration a timer waits for, of at least `min` ms (a lease, a timeout or a poll interval of
 * nearly nothing makes no sense) and at most 24d (a longer one would fire at once).
 */
const timerDuration = (min: number, why: string) =>
  duration
    .refine((ms) => ms >= min, `at least ${min >= 1_000 ? `${min / 1_000}s` : `${min}ms`}: ${why}`)
    .refine((ms) => ms <= TIMER_MAX_MS, 'at most 24d: a timer cannot wait longer');

const size = z.union([z.string(), z.number()]).transform((value, ctx) => {
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value < 1) {
      ctx.addIssue({ code: 'custom', message: `${value} is not a size: give a whole number of bytes (1 or more), or write it like 256KiB or 1MiB` });
      return z.NEVER;
    }
    return value;
  }
  const match = /^(\d+)\s*(b|kib|kb|mib|mb)?$/i.exec(value.trim());
  if (!match) {
    ctx.addIssue({ code: 'custom', message: `'${value}' is not a size: write it like 262144, 256KiB or 1MiB` });
    return z.NEVER;
  }
  const unit = (match[2] ?? 'b').toLowerCase();
  const bytes = Number(match[1]) * (unit.startsWith('k') ? 1024 : unit.startsWith('m') ? 1024 * 1024 : 1);
  if (bytes < 1 || !Number.isSafeInteger(bytes)) {
    ctx.addIssue({ code: 'custom', message: `'${value}' is not a size Offload can use: give 1 byte or more` });
    return z.NEVER;
  }
  return bytes;
});

const name = z.string().refine(isValidName, 'names are 1-100 letters, digits, ".", "_" or "-", starting with a letter or digit');

/** A secret is given by environment variable reference (`{ env: NAME }`) so files hold no secrets. */
const secretRef = z.union([z.object({ env: z.string().min(1) }).strict(), z.string().min(1)]);

const endpoint = z
  .object({
    url: z
      .url({ protocol: /^https?$/, error: 'an http:// or https:// URL, e.g. http://127.0.0.1:9000 or https://api.example.com/hooks' })
      // Deliveries never send a URL's user:password@ (fetch drops it); saying so beats a silent 401.
      // (A URL that does not parse is the check above's to report.)
      .refine((url) => { if (!URL.canParse(url)) return true; const { username, password } = new URL(url); return username === '' && password === ''; },
        'an endpoint URL cannot carry credentials (user:password@): they are never sent; give them as a header instead, e.g. headers: { authorization: { env: API_AUTHORIZATION } }'),
    timeout: timerDuration(10, 'each attempt gets this long').optional(),
    secret: secretRef.optional(),
    /** Several secrets during rotation: every one signs, receivers accept any. */
    secrets: z.array(secretRef).optional(),
    /** Sent with every delivery (a value or `{ env: NAME }`); a message can neither replace nor repeat them. */
    headers: z
      .record(z.string(), secretRef)
      .superRefine((headers, ctx) => {
        const seen = new Set<string>();
        for (const [header, value] of Object.entries(headers)) {
          const lower = header.toLowerCase();
          const problem =
            configuredHeaderProblem(header) ??
            (seen.has(lower) ? `'${header}' is given twice (header names are case-insensitive)` : undefined) ??
            (typeof value === 'string' ? headerValueProblem(value) : undefined);
          if (problem) ctx.addIssue({ code: 'custom', path: [header], message: problem });
          seen.add(lower);
        }
      })
      .optional(),
    /** Calls per second to this endpoint across every channel and instance; burst defaults to one second's worth. */
    rateLimit: z
      .object({
        perSecond: z.number().positive().max(100_000),
        burst: z.number().int().min(1).max(100_000).optional(),
      })
      .strict()
      .optional(),
    /** Calls in flight to this endpoint from one instance, across its channels. */
    maxConcurrency: z.number().int().min(1).max(100_000).optional(),
    /** Cut rate and concurrency on 429/503, raise them step by step while calls succeed (AIMD). */
    adaptive: z.boolean().optional(),
    /** Circuit breaker for this endpoint's origin; `false` turns it off. */
    breaker: z
      .union([
        z.literal(false),
        z
          .object({
            consecutiveFailures: z.number().int().min(1).optional(),
            failureRate: z.number().gt(0).max(1).optional(),
            window: timerDuration(1, 'the window failures are counted in').optional(),
            minimumCalls: z.number().int().min(1).optional(),
            coolDown: timerDuration(1, 'how long the circuit stays open').optional(),
          })
          .strict(),
      ])
      .optional(),
  })
  .strict();

const policy = {
  preset: z.enum(['ancillary', 'domain-events', 'aggregate-fifo']).optional(),
  endpoint: name,
  path: z.string().startsWith('/').optional(),
  concurrency: z.number().int().min(1).max(1024).optional(),
  timeout: timerDuration(10, 'each attempt gets this long').optional(),
  lockDuration: timerDuration(100, 'the lease a call holds, renewed every third of it; shorter ones run out before a renewal can keep the call to itself').optional(),
  /** Asynchronous acknowledgement: a 202 defers the attempt until completed or this long passed (1s..7d). Off when absent. */
  asyncTimeout: duration
    .refine((ms) => ms >= 1_000 && ms <= 7 * 86_400_000, 'asyncTimeout must be between 1s and 7d')
    .optional(),
  minBackoff: duration.optional(),
  maxBackoff: duration.optional(),
  /** Notification endpoints Offload calls itself (signed, retried through an internal queue). */
  onDelivered: z.lazy(() => notification).optional(),
  onDeadLettered: z.lazy(() => notification).optional(),
  /** Called once when a subscription lane stalls or a fifo key is parked. */
  onStalled: z.lazy(() => notification).optional(),
};

const notification = z.object({ endpoint: name, path: z.string().startsWith('/').optional() }).strict();

/** Backpressure on a queue or topic: sends answer 429 with Retry-After at or over these. */
const backpressure = {
  maxDepth: z.number().int().min(1).max(1_000_000_000).optional(),
  maxOldestAge: duration.optional(),
};

/** Priority and expiry break order, which fifo queues and topics promise. */
const ORDERED_TTL = 'ttl is for plain queues: an expired event would drop out of the order this topic promises';

const queue = z
  .object({
    ...policy,
    ...backpressure,
    kind: z.enum(['queue', 'fifo']).optional(),
    /** Plain queues: a message not delivered this long after it is due is dead-lettered (reason `expired`). */
    ttl: duration.refine((ms) => ms > 0, 'ttl must be longer than 0').optional(),
    maxAttempts: z.number().int().min(1).max(1000).optional(),
    onExhausted: z.enum(['block', 'deadletter']).optional(),
    prefetch: z.number().int().min(1).max(100).optional(),
  })
  .strict();

/** Type or key patterns of a subscription filter (`*` matches any run of characters). */
const patterns = z.array(z.string()).superRefine((list, ctx) => {
  const problem = patternListProblem(list);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
  list.forEach((pattern, i) => {
    const bad = patternProblem(pattern);
    if (bad) ctx.addIssue({ code: 'custom', path: [i], message: bad });
  });
});

/** Which events of the topic the subscription receives: a type pattern matches, and a key pattern too when keys are given. */
const filter = z.object({ types: patterns, keys: patterns.optional() }).strict();

const subscription = z
  .object({
    ...policy,
    ordering: z.enum(['topic', 'key']).optional(),
    batchSize: z.number().int().min(1).max(1000).optional(),
    maxBatchWait: timerDuration(0, 'how long a short batch waits to fill').optional(),
    prefetch: z.number().int().min(1).max(100).optional(),
    stallAfterAttempts: z.number().int().min(1).max(1000).optional(),
    startFrom: z.enum(['latest', 'beginning']).optional(),
    filter: filter.optional(),
    /** Refused: dead-lettering would let later events overtake a failed one. */
    onExhausted: z.literal('stall', { error: 'subscriptions never dead-letter or skip an event (later events would overtake it and order would break); they stall and wait for an operator: use stallAfterAttempts' }).optional(),
    maxAttempts: z.never({ error: 'subscriptions never give up on an event (order would break); use stallAfterAttempts' }).optional(),
    ttl: z.never({ error: ORDERED_TTL }).optional(),
  })
  .strict();

const topic = z
  .object({
    subscriptions: z.record(name, subscription).default({}),
    ...backpressure,
    /** How long the topic keeps its events (delivered ones included) for seeks and new subscriptions; default delivery.retention. */
    retention: duration.optional(),
    ttl: z.never({ error: ORDERED_TTL }).optional(),
  })
  .strict();

/** A recurring message: one per tick of the cron expression, to a queue or a topic. */
const schedule = z
  .object({
    cron: z.string().min(1),
    timezone: z.string().min(1).default('UTC'),
    queue: name.optional(),
    topic: name.optional(),
    message: z
      .object({
        type: z.string().refine(isValidIdentifier, IDENTIFIER_RULE),
        key: z.string().refine(isValidIdentifier, IDENTIFIER_RULE).optional(),
        data: z.unknown().optional(),
      })
      .strict(),
    catchUp: z.enum(['none', 'latest', 'all']).default('latest'),
  })
  .strict()
  .superRefine((s, ctx) => {
    if ((s.queue === undefined) === (s.topic === undefined)) ctx.addIssue({ code: 'custom', path: ['queue'], message: 'give exactly one of queue or topic: where each tick\'s message goes' });
    const problem = cronProblem(s.cron, s.timezone);
    if (problem) ctx.addIssue({ code: 'custom', path: [problem.includes('time zone') ? 'timezone' : 'cron'], message: problem });
  });

export const configSchema = z
  .object({
    server: z
      .object({
        port: z.number().int().min(0).max(65535).default(8080),
        host: z.string().default('127.0.0.1'),
        /** Largest request body (a batch send). */
        bodyLimit: size.default(5 * 1024 * 1024),
        /** How long a client may take to send a whole request (headers and body); a stalled upload is cut off with 408. */
        requestTimeout: timerDuration(100, 'how long a client may take to send a request; 0 would turn the limit off').default(30_000),
        /**
         * Connections the API holds at once; more are closed as they open. Keeps a flood of idle
         * connections from taking the file descriptors that deliveries and the store need.
         */
        maxConnections: z.number().int().min(1).max(1_000_000).default(4_096),
        /**
         * Request bodies being received at once, in bytes (each counted at its Content-Length, or at
         * bodyLimit when it does not say): past it a request is answered 503 before its body is read.
         */
        maxBodiesInFlight: size.default(256 * 1024 * 1024),
        /** API keys with roles; none configured means the API is open (loopback default host). */
        apiKeys: z
          .array(
            z
              .object({
                key: secretRef,
                role: z.enum(['producer', 'operator', 'viewer']),
                channels: z.array(z.string()).optional(),
              })
              .strict(),
          )
          .default([]),
      })
      .strict()
      .superRefine((server, ctx) => {
        // Below bodyLimit, a body the limit allows would be answered 503 busy on every try.
        if (server.maxBodiesInFlight < server.bodyLimit) {
          ctx.addIssue({ code: 'custom', path: ['maxBodiesInFlight'], message: `${server.maxBodiesInFlight} bytes is less than bodyLimit (${server.bodyLimit}): a body within bodyLimit could never be received; give at least bodyLimit` });
        }
      })
      .default({ port: 8080, host: '127.0.0.1', bodyLimit: 5 * 1024 * 1024, requestTimeout: 30_000, maxConnections: 4_096, maxBodiesInFlight: 256 * 1024 * 1024, apiKeys: [] }),
    storage: z
      .union([
        z.object({ sqlite: z.object({ path: z.string().min(1), durability: z.enum(['fsync', 'process']).default('fsync') }).strict() }).strict(),
        z.object({ postgres: z.object({ url: secretRef, schema: name.default('offload'), poolSize: z.number().int().min(1).max(200).default(10) }).strict() }).strict(),
      ])
      .default({ sqlite: { path: './data/offload.db', durability: 'fsync' } }),
    delivery: z
      .object({
        /** Largest message payload (`data`), serialized. */
        maxPayload: size.default(256 * 1024),
        /** Deepest JSON nesting of a message's data (objects and arrays); deeper bodies are refused. */
        maxDepth: z.number().int().min(1).max(1_000).default(64),
        /** A repeated message id within this window is answered `duplicate: true`. */
        dedupWindow: duration.default(86_400_000),
        /** Delivered messages are kept this long (at least the dedup window) for status queries. */
        retention: duration.default(7 * 86_400_000),
        /** Fallback poll for work no wake-up announced. */
        pollInterval: timerDuration(10, 'how often idle channels look for due work').default(1_000),
        /** How long SIGTERM waits for in-flight deliveries before releasing them. */
        shutdownGrace: timerDuration(0, 'how long a stop waits for calls in flight').default(30_000),
      })
      .strict()
      .default({ maxPayload: 256 * 1024, maxDepth: 64, dedupWindow: 86_400_000, retention: 7 * 86_400_000, pollInterval: 1_000, shutdownGrace: 30_000 }),
    /** Test setups only: never on by default. */
    testing: z
      .object({
        /** Enables POST /v1/drain: deliver everything due now and report what is left. */
        drain: z.boolean().default(false),
      })
      .strict()
      .default({ drain: false }),
    /** OpenTelemetry tracing: off unless an OTLP/HTTP endpoint is given (or OTEL_EXPORTER_OTLP_ENDPOINT). */
    telemetry: z
      .object({
        otlp: z
          .object({
            /** Base URL of an OTLP/HTTP receiver (spans go to `<url>/v1/traces`), or the full `…/v1/traces` URL. */
            url: z.url({ protocol: /^https?$/, error: 'an http(s) URL of an OTLP/HTTP receiver, e.g. http://127.0.0.1:4318' }),
          })
          .strict()
          .optional(),
        serviceName: z.string().min(1).max(200).optional(),
      })
      .strict()
      .default({}),
    endpoints: z.record(name, endpoint).default({}),
    queues: z.record(name, queue).default({}),
    topics: z.record(name, topic).default({}),
    schedules: z.record(name, schedule).default({}),
  })
  .strict();

export type ConfigInput = z.input<typeof configSchema>;
export type ParsedConfig = z.output<typeof configSchema>;
export type SecretRef = z.output<typeof secretRef>;
