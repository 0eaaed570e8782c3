import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { PRESETS, subscriptionTargetName, type DeliveryPolicy, type SubscriptionTarget, type Target } from '../domain/channel.js';
import { profileOf } from '../domain/profile.js';
import { ConfigError } from '../domain/errors.js';
import { DEFAULT_BREAKER_POLICY, type BreakerPolicy } from '../domain/breaker.js';
import type { EndpointLimits } from '../domain/rate-limit.js';
import type { ChannelDeclaration } from '../storage/port.js';
import { tickMessageId, type ScheduleDefinition } from '../domain/schedule.js';
import { storableProblem } from '../domain/message.js';
import { configSchema, type ParsedConfig, type SecretRef } from './schema.js';
import { closestKey, keysAt, schemaKeys } from './suggest.js';
import { jsonDepthExceeds } from '../domain/json-guard.js';
import { headerValueProblem } from '../domain/headers.js';
import { webhookSecretProblem } from '../receiver/webhook-secret.js';

/** Per target: the internal notification queue for each kind of event. */
export interface NotificationRoutes {
  onDelivered?: string;
  onDeadLettered?: string;
  onStalled?: string;
}

/** Notification queues are internal: their names start with `_`, which channel names cannot. */
export const NOTIFICATION_QUEUE_PREFIX = '_notify.';
const PREFETCH_ASYNC = 'prefetch does not apply with asyncTimeout: a deferred (202) answer holds its lane until completed, so events claimed ahead would only wait behind it';

/** The validated, frozen configuration every part of Offload reads. */
export interface OffloadConfig {
  /** Where the configuration came from, for the start-up banner. */
  source: string;
  server: { port: number; host: string; bodyLimit: number; requestTimeout: number; maxConnections: number; maxBodiesInFlight: number; apiKeys: ReadonlyArray<{ key: string; role: 'producer' | 'operator' | 'viewer'; channels?: string[] }> };
  storage: { sqlite: { path: string; durability: 'fsync' | 'process' } } | { postgres: { url: string; schema: string; poolSize: number } };
  delivery: ParsedConfig['delivery'];
  /** Test setups only (`testing.drain` enables POST /v1/drain). */
  testing: { drain: boolean };
  targets: readonly Target[];
  channels: readonly ChannelDeclaration[];
  /** Queues and topics by name, with their kind, for routing producer calls. */
  queues: ReadonlyMap<string, 'queue' | 'fifo'>;
  topics: ReadonlyMap<string, readonly string[]>;
  /** Topics with their own `retention` (ms): how long they keep their events instead of `delivery.retention`. */
  topicRetention: ReadonlyMap<string, number>;
  notifications: ReadonlyMap<string, NotificationRoutes>;
  /** Internal queues (notifications): delivered like queues, not open to producers. */
  internalQueues: readonly string[];
  /** Circuit breaker policy per endpoint name; null when turned off. */
  breakers: ReadonlyMap<string, BreakerPolicy | null>;
  /** Recurring schedules, each sending one message per tick to a queue or topic. */
  schedules: readonly ScheduleDefinition[];
  /** Tracing: where spans go (OTLP/HTTP traces URL), or null when off. */
  telemetry: { tracesUrl: string | null; serviceName: string };
  /** Flow control per endpoint name (rate limit, concurrency, adaptive), for every endpoint. */
  endpointLimits: ReadonlyMap<string, EndpointLimits>;
  /** Backpressure per queue or topic that has a limit: sends are refused at or over it. */
  backpressure: ReadonlyMap<string, ChannelLimits>;
}

export interface ChannelLimits {
  /** Undelivered messages (a topic: its deepest subscription) at which sends are refused. */
  maxDepth: number | null;
  /** Age of the oldest undelivered message at which sends are refused. */
  maxOldestAgeMs: number | null;
}

export interface Overrides {
  port?: number;
  host?: string;
  sqlitePath?: string;
  postgresUrl?: string;
}

/** Reads a YAML or JSON file (YAML is a superset of JSON) and builds the configuration. */
export function loadConfigFile(path: string, env: NodeJS.ProcessEnv = process.env, overrides: Overrides = {}): OffloadConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
    // A first run in an empty folder: say how to get a file, not only that there is none.
    const hint = missing ? ' (`offload init` writes a starting configuration; `--config <file>` reads another)' : '';
    throw new ConfigError(`cannot read configuration file ${path}: ${(error as Error).message}${hint}`);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (error) {
    throw new ConfigError(`${path} is not valid YAML or JSON: ${(error as Error).message}`);
  }
  return buildConfig(raw ?? {}, { source: path, env, overrides });
}

/** Defaults, then the file's values, then environment, then flags: one validated, frozen object. */
export function buildConfig(raw: unknown, options: { source?: string; env?: NodeJS.ProcessEnv; overrides?: Overrides } = {}): OffloadConfig {
  const env = options.env ?? process.env;
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) throw configError(options.source ?? 'configuration', parsed.error.issues);
  const file = parsed.data;
  const errors: Array<{ path: string; message: string }> = [];
  const secret = (ref: SecretRef, path: string): string => {
    if (typeof ref === 'string') return ref;
    const value = env[ref.env];
    if (value === undefined || value === '') errors.push({ path, message: `environment variable ${ref.env} is not set` });
    return value ?? '';
  };
  /** An endpoint's headers with values taken from the environment where given as `{ env: NAME }`; resolved once per endpoint. */
  const resolvedHeaders = new Map<string, Record<string, string>>();
  const endpointHeaders = (endpointName: string, headers: Record<string, SecretRef> | undefined): Record<string, string> => {
    let resolved = resolvedHeaders.get(endpointName);
    if (!resolved) {
      resolved = {};
      for (const [header, ref] of Object.entries(headers ?? {})) {
        const path = `endpoints.${endpointName}.headers.${header}`;
        const value = secret(ref, path);
        const problem = typeof ref === 'string' || value === '' ? undefined : headerValueProblem(value);
        if (problem) errors.push({ path, message: `environment variable ${(ref as { env: string }).env}: ${problem}` });
        resolved[header] = value;
      }
      resolvedHeaders.set(endpointName, resolved);
    }
    return resolved;
  };
  const signingSecret = (ref: SecretRef, path: string): string => {
    const value = secret(ref, path);
    const problem = value === '' ? undefined : webhookSecretProblem(value);
    if (problem) errors.push({ path, message: typeof ref === 'string' ? problem : `environment variable ${ref.env}: ${problem}` });
    return value;
  };

  const overrides = { ...fromEnv(env), ...options.overrides };
  if (overrides.port !== undefined && !(Number.isInteger(overrides.port) && overrides.port >= 0 && overrides.port <= 65_535)) {
    errors.push({ path: '--port (or PORT, OFFLOAD_PORT)', message: `is not a port: give a whole number from 0 to 65535 (0: any free port)` });
  }
  const server = {
    ...file.server,
    port: overrides.port ?? file.server.port,
    host: overrides.host ?? file.server.host,
    apiKeys: file.server.apiKeys.map((k, i) => ({ ...k, key: secret(k.key, `server.apiKeys.${i}.key`) })),
  };
  checkApiKeys(server.apiKeys, file, errors);
  const storage: OffloadConfig['storage'] = overrides.postgresUrl
    ? { postgres: { url: overrides.postgresUrl, schema: 'postgres' in file.storage ? file.storage.postgres.schema : 'offload', poolSize: 'postgres' in file.storage ? file.storage.postgres.poolSize : 10 } }
    : 'sqlite' in file.storage
      ? { sqlite: { ...file.storage.sqlite, path: overrides.sqlitePath ?? file.storage.sqlite.path } }
      : overrides.sqlitePath
        ? { sqlite: { path: overrides.sqlitePath, durability: 'fsync' } }
        : { postgres: { ...file.storage.postgres, url: secret(file.storage.postgres.url, 'storage.postgres.url') } };
  if ('postgres' in storage && storage.postgres.url !== '' && !isPostgresUrl(storage.postgres.url)) {
    const where = overrides.postgresUrl ? '--postgres (or OFFLOAD_DATABASE_URL)' : 'storage.postgres.url';
    errors.push({ path: where, message: 'is not a PostgreSQL URL: write it as postgres://user:password@host:5432/database' });
  }

  const backpressure = new Map<string, ChannelLimits>();
  const limitsOf = (c: { maxDepth?: number; maxOldestAge?: number }): ChannelLimits | null =>
    c.maxDepth === undefined && c.maxOldestAge === undefined ? null : { maxDepth: c.maxDepth ?? null, maxOldestAgeMs: c.maxOldestAge ?? null };
  for (const [name, c] of [...Object.entries(file.queues), ...Object.entries(file.topics)]) {
    const limits = limitsOf(c);
    if (limits) backpressure.set(name, limits);
  }
  const targets: Target[] = [];
  const channels: ChannelDeclaration[] = [];
  const queues = new Map<string, 'queue' | 'fifo'>();
  const topics = new Map<string, string[]>();
  const topicRetention = new Map<string, number>();
  const notifications = new Map<string, NotificationRoutes>();
  const notifyQueues = new Map<string, string>();
  const pickNotifications = (where: string, p: Partial<Record<keyof NotificationRoutes, { endpoint: string; path?: string }>>): NotificationRoutes => {
    const routes: NotificationRoutes = {};
    for (const kind of ['onDelivered', 'onDeadLettered', 'onStalled'] as const) {
      const route = p[kind];
      if (!route) continue;
      const id = `${route.endpoint}${route.path ?? ''}`;
      let queue = notifyQueues.get(id);
      if (!queue) {
        queue = `${NOTIFICATION_QUEUE_PREFIX}${notifyQueues.size}`;
        const policy = policyFor(`${where}.${kind}`, route, { ...PRESETS.ancillary, concurrency: 4 });
        if (!policy) continue;
        notifyQueues.set(id, queue);
        const target: Target = { ...policy, kind: 'queue', name: queue, ordering: 'none' };
        targets.push(target);
        channels.push(declarationOf(target));
      }
      routes[kind] = queue;
    }
    return routes;
  };

  const policyFor = (where: string, p: { endpoint: string; path?: string; timeout?: number; lockDuration?: number; asyncTimeout?: number; concurrency?: number; minBackoff?: number; maxBackoff?: number }, seed: Partial<Record<string, unknown>>): DeliveryPolicy | undefined => {
    const ep = file.endpoints[p.endpoint];
    if (!ep) {
      errors.push({ path: `${where}.endpoint`, message: `endpoint '${p.endpoint}' is not defined under endpoints (defined: ${Object.keys(file.endpoints).join(', ') || 'none'})` });
      return undefined;
    }
    const refs = [...(ep.secret ? [ep.secret] : []), ...(ep.secrets ?? [])];
    const minBackoffMs = p.minBackoff ?? (seed.minBackoffMs as number);
    const maxBackoffMs = p.maxBackoff ?? (seed.maxBackoffMs as number);
    if (minBackoffMs > maxBackoffMs) errors.push({ path: `${where}.minBackoff`, message: `minBackoff (${minBackoffMs}ms) is larger than maxBackoff (${maxBackoffMs}ms)` });
    return {
      endpoint: p.endpoint,
      url: joinUrl(ep.url, p.path),
      timeoutMs: p.timeout ?? ep.timeout ?? (seed.timeoutMs as number),
      lockDurationMs: p.lockDuration ?? (seed.lockDurationMs as number),
      concurrency: p.concurrency ?? (seed.concurrency as number),
      maxAttempts: (seed.maxAttempts as number | undefined) ?? 10,
      minBackoffMs,
      maxBackoffMs,
      secrets: refs.map((r, i) => signingSecret(r, `endpoints.${p.endpoint}.${!ep.secret ? `secrets.${i}` : i === 0 ? 'secret' : `secrets.${i - 1}`}`)),
      headers: endpointHeaders(p.endpoint, ep.headers),
      ...(p.asyncTimeout === undefined ? {} : { asyncTimeoutMs: p.asyncTimeout }),
    };
  };

  for (const [name, q] of Object.entries(file.queues)) {
    const where = `queues.${name}`;
    const seed: Record<string, unknown> = { ...(q.preset ? PRESETS[q.preset] : q.kind === 'fifo' ? PRESETS['aggregate-fifo'] : PRESETS.ancillary) };
    const kind = q.kind ?? (seed.kind as 'queue' | 'fifo' | undefined) ?? 'queue';
    if (q.preset === 'domain-events') errors.push({ path: `${where}.preset`, message: "the 'domain-events' preset is for topic subscriptions, not queues" });
    if (kind === 'queue' && q.onExhausted) errors.push({ path: `${where}.onExhausted`, message: 'onExhausted applies to fifo queues only (kind: fifo); plain queues dead-letter' });
    if (kind === 'queue' && q.prefetch !== undefined) errors.push({ path: `${where}.prefetch`, message: 'prefetch applies to fifo queues and subscriptions; a plain queue already claims up to its concurrency at once' });
    if (q.prefetch !== undefined && q.prefetch > 1 && q.asyncTimeout !== undefined) errors.push({ path: `${where}.prefetch`, message: PREFETCH_ASYNC });
    if (kind === 'fifo' && q.ttl !== undefined) errors.push({ path: `${where}.ttl`, message: 'ttl is for plain queues: a fifo queue delivers each key in order, and an expired message would drop out of it' });
    const policy = policyFor(where, q, { ...seed, maxAttempts: q.maxAttempts ?? seed.maxAttempts });
    if (!policy) continue;
    const target: Target = kind === 'fifo'
      ? { ...policy, kind: 'fifo', name, ordering: 'key', onExhausted: q.onExhausted ?? 'block', ...(q.prefetch !== undefined ? { prefetch: q.prefetch } : {}) }
      : { ...policy, kind: 'queue', name, ordering: 'none', ...(q.ttl !== undefined ? { ttlMs: q.ttl } : {}) };
    targets.push(target);
    channels.push(declarationOf(target));
    queues.set(name, kind);
    notifications.set(name, pickNotifications(where, q));
  }

  for (const [topicName, t] of Object.entries(file.topics)) {
    if (queues.has(topicName)) errors.push({ path: `topics.${topicName}`, message: `'${topicName}' is already a queue: channel names must be unique` });
    channels.push({ name: topicName, kind: 'topic' });
    if (t.retention !== undefined) topicRetention.set(topicName, t.retention);
    const subs: string[] = [];
    for (const [subName, s] of Object.entries(t.subscriptions)) {
      const where = `topics.${topicName}.subscriptions.${subName}`;
      if (s.preset && s.preset !== 'domain-events') errors.push({ path: `${where}.preset`, message: `the '${s.preset}' preset is for queues; subscriptions use 'domain-events'` });
      const seed = PRESETS['domain-events'];
      const policy = policyFor(where, s, seed);
      if (!policy) continue;
      const ordering = s.ordering ?? seed.ordering;
      const batchSize = s.batchSize ?? seed.batchSize;
      if (ordering === 'key' && batchSize > 1) errors.push({ path: `${where}.batchSize`, message: 'batches are for ordering: topic; with ordering: key each key gets one event at a time' });
      if (s.prefetch !== undefined && s.prefetch > 1 && batchSize > 1) errors.push({ path: `${where}.prefetch`, message: 'prefetch is for unbatched subscriptions (batchSize 1): a batch already takes several events for one call' });
      if (s.prefetch !== undefined && s.prefetch > 1 && s.asyncTimeout !== undefined) errors.push({ path: `${where}.prefetch`, message: PREFETCH_ASYNC });
      const name = subscriptionTargetName(topicName, subName);
      const target: SubscriptionTarget = {
        ...policy,
        kind: 'subscription',
        name,
        topic: topicName,
        subscription: subName,
        ordering,
        batchSize,
        maxBatchWaitMs: s.maxBatchWait ?? seed.maxBatchWaitMs,
        ...(s.prefetch !== undefined ? { prefetch: s.prefetch } : {}),
        stallAfterAttempts: s.stallAfterAttempts ?? seed.stallAfterAttempts,
        startFrom: s.startFrom ?? 'latest',
        filter: s.filter ? { types: s.filter.types, ...(s.filter.keys ? { keys: s.filter.keys } : {}) } : null,
      };
      // The profile decides what is in flight (one lane: one call) and what is declared to the store.
      target.concurrency = profileOf(target).inFlight;
      targets.push(target);
      channels.push(declarationOf(target));
      subs.push(name);
      notifications.set(name, pickNotifications(where, s));
    }
    topics.set(topicName, subs);
  }

  const schedules: ScheduleDefinition[] = [];
  for (const [name, s] of Object.entries(file.schedules)) {
    const channel = s.queue ?? s.topic!;
    const where = `schedules.${name}.${s.queue ? 'queue' : 'topic'}`;
    if (s.queue && !queues.has(channel)) errors.push({ path: where, message: `queue '${channel}' is not defined under queues (defined: ${[...queues.keys()].join(', ') || 'none'})` });
    if (s.topic && !topics.has(channel)) errors.push({ path: where, message: `topic '${channel}' is not defined under topics (defined: ${[...topics.keys()].join(', ') || 'none'})` });
    const data = JSON.stringify(s.message.data ?? null);
    // A tick's message must be one the store would take (storableProblem, as for every send):
    // refused at start-up, not at every tick.
    const kind = s.queue ? queues.get(channel) : topics.has(channel) ? 'topic' : undefined;
    const tick = { id: tickMessageId(name, 0), key: s.message.key ?? null, type: s.message.type, data, metadata: {}, deliverAt: null };
    const refused = kind && storableProblem(kind, tick);
    if (refused) errors.push({ path: `schedules.${name}.message.${refused.field}`, message: refused.message });
    if (Buffer.byteLength(data) > file.delivery.maxPayload) errors.push({ path: `schedules.${name}.message.data`, message: `larger than delivery.maxPayload (${file.delivery.maxPayload} bytes)` });
    else if (jsonDepthExceeds(data, file.delivery.maxDepth)) errors.push({ path: `schedules.${name}.message.data`, message: `nested deeper than delivery.maxDepth (${file.delivery.maxDepth} levels)` });
    schedules.push({ name, cron: s.cron.trim(), timezone: s.timezone, channel, message: { type: s.message.type, key: s.message.key ?? null, data }, catchUp: s.catchUp });
  }

  // An endpoint's secret is read once per target that calls it: its problem is said once.
  const distinct = [...new Map(errors.map((e) => [`${e.path}\n${e.message}`, e])).values()];
  if (distinct.length > 0) throw configError(options.source ?? 'configuration', distinct.map((e) => ({ path: e.path.split('.'), message: e.message })));
  return deepFreeze({
    source: options.source ?? 'inline configuration',
    server,
    storage,
    delivery: file.delivery,
    testing: { drain: file.testing.drain },
    targets,
    channels,
    queues,
    topics,
    topicRetention,
    notifications,
    internalQueues: [...notifyQueues.values()],
    schedules,
    telemetry: {
      tracesUrl: tracesUrl(file.telemetry.otlp?.url ?? env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? env.OTEL_EXPORTER_OTLP_ENDPOINT),
      serviceName: file.telemetry.serviceName ?? env.OTEL_SERVICE_NAME ?? 'offload',
    },
    backpressure,
    endpointLimits: new Map(
      Object.entries(file.endpoints).map(([name, ep]) => [
        name,
        {
          rateLimit: ep.rateLimit ? { perSecond: ep.rateLimit.perSecond, burst: ep.rateLimit.burst ?? Math.max(1, Math.ceil(ep.rateLimit.perSecond)) } : null,
          maxConcurrency: ep.maxConcurrency ?? null,
          adaptive: ep.adaptive ?? false,
        },
      ]),
    ),
    breakers: new Map(
      Object.entries(file.endpoints).map(([name, ep]) => [
        name,
        ep.breaker === false
          ? null
          : {
              consecutiveFailures: ep.breaker?.consecutiveFailures ?? DEFAULT_BREAKER_POLICY.consecutiveFailures,
              failureRate: ep.breaker?.failureRate ?? DEFAULT_BREAKER_POLICY.failureRate,
              windowMs: ep.breaker?.window ?? DEFAULT_BREAKER_POLICY.windowMs,
              minimumCalls: ep.breaker?.minimumCalls ?? DEFAULT_BREAKER_POLICY.minimumCalls,
              coolDownMs: ep.breaker?.coolDown ?? DEFAULT_BREAKER_POLICY.coolDownMs,
            },
      ]),
    ),
  });
}

function fromEnv(env: NodeJS.ProcessEnv): Overrides {
  const out: Overrides = {};
  if (env.OFFLOAD_PORT) out.port = Number(env.OFFLOAD_PORT);
  if (env.OFFLOAD_HOST) out.host = env.OFFLOAD_HOST;
  if (env.OFFLOAD_SQLITE_PATH) out.sqlitePath = env.OFFLOAD_SQLITE_PATH;
  if (env.OFFLOAD_DATABASE_URL) out.postgresUrl = env.OFFLOAD_DATABASE_URL;
  return out;
}

/** An OTLP/HTTP base URL gets the traces path; a URL already naming it is kept. */
function tracesUrl(url: string | undefined): string | null {
  if (!url) return null;
  return /\/v1\/traces\/?$/.test(url) ? url : `${url.replace(/\/+$/, '')}/v1/traces`;
}

/** The endpoint's URL with the channel's path after its own path, before its query (`http://h/base?x=1` + `/x` → `http://h/base/x?x=1`). */
function joinUrl(base: string, path: string | undefined): string {
  if (!path) return base;
  const url = new URL(base);
  const [pathPart, query] = path.split(/\?(.*)/s, 2) as [string, string | undefined];
  url.pathname = url.pathname.replace(/\/+$/, '') + pathPart;
  if (query !== undefined) url.search = url.search ? `${url.search}&${query}` : `?${query}`;
  url.hash = '';
  return url.toString();
}

let knownKeys: ReadonlySet<string> | undefined;

/** An issue's message; an unrecognized key close to a known one says which it probably meant. */
function issueMessage(issue: { message: string; code?: string; path: readonly PropertyKey[]; keys?: readonly string[]; issues?: ReadonlyArray<{ message: string }> }): string {
  // A refused record key (a channel or endpoint name) says only "Invalid key in record"; the reason is nested.
  if (issue.code === 'invalid_key' && issue.issues?.[0]) return issue.issues[0].message;
  if (issue.code !== 'unrecognized_keys' || !issue.keys) return issue.message;
  // The keys of the object the issue is about; every key of the schema when its place cannot be found.
  const known = keysAt(configSchema, issue.path) ?? (knownKeys ??= schemaKeys(configSchema));
  const hints = issue.keys.flatMap((key) => {
    const meant = closestKey(key, known);
    return meant ? [issue.keys!.length === 1 ? `did you mean "${meant}"?` : `"${key}": did you mean "${meant}"?`] : [];
  });
  return hints.length > 0 ? `${issue.message} (${hints.join('; ')})` : issue.message;
}

function configError(source: string, issues: ReadonlyArray<{ path: PropertyKey[]; message: string }> | z.core.$ZodIssue[]): ConfigError {
  const errors = issues.map((i) => ({ path: i.path.map(String).join('.') || '(root)', message: issueMessage(i) }));
  const lines = errors.map((e) => `  - ${e.path}: ${e.message}`).join('\n');
  return new ConfigError(`invalid configuration in ${source}:\n${lines}`, errors);
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value) && !(value instanceof Map)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

/**
 * The sweep's cutoffs at `now`: messages older than `olderThan` go once delivered everywhere,
 * except those of topics with their own retention, which keep theirs until their own cutoff.
 * Either is at least the dedup window, so a duplicate is recognised as long as promised.
 */
export function retentionCutoffs(config: Pick<OffloadConfig, 'delivery' | 'topicRetention'>, now: number): { olderThan: number; topics: Record<string, number> } {
  const keep = (ms: number) => now - Math.max(ms, config.delivery.dedupWindow);
  return {
    olderThan: keep(config.delivery.retention),
    topics: Object.fromEntries([...config.topicRetention].map(([topic, ms]) => [topic, keep(ms)])),
  };
}

/** How a target is declared to the store: its kind and ordering follow its profile. */
function declarationOf(target: Target): ChannelDeclaration {
  // A queue declared without ttl has none: declaring clears one an earlier configuration set.
  if (target.kind === 'queue') return target.ttlMs ? { name: target.name, kind: 'queue', ttlMs: target.ttlMs } : { name: target.name, kind: 'queue' };
  if (target.kind === 'fifo') return { name: target.name, kind: 'fifo' };
  return { name: target.name, kind: 'subscription', topic: target.topic, ordering: profileOf(target).ordering, startFrom: target.startFrom, filter: target.filter };
}

/**
 * `channels` scopes producer keys only (operators and viewers act on every channel), and names
 * queues or topics of this configuration; each key is a different secret, as a key has one role.
 * A scope that would be ignored, or a typo that scopes a key to nothing, is refused at start-up.
 */
function checkApiKeys(keys: OffloadConfig['server']['apiKeys'], file: { queues: Record<string, unknown>; topics: Record<string, unknown> }, errors: Array<{ path: string; message: string }>): void {
  const known = new Set([...Object.keys(file.queues), ...Object.keys(file.topics)]);
  const seen = new Map<string, number>();
  keys.forEach((k, i) => {
    const where = `server.apiKeys.${i}`;
    if (k.channels !== undefined && k.role !== 'producer') {
      errors.push({ path: `${where}.channels`, message: `channels scopes producer keys only; ${k.role === 'operator' ? 'an' : 'a'} ${k.role} key reads and acts on every channel (remove channels, or make it a producer key)` });
    }
    if (k.role === 'producer' && (k.channels === undefined || k.channels.length === 0)) {
      errors.push({ path: `${where}.channels`, message: "a producer key sends only to the channels it names: list its queues and topics (e.g. [audits, domain_events]), or ['*'] for every channel" });
    }
    if (k.role === 'producer') {
      for (const [j, channel] of (k.channels ?? []).entries()) {
        if (channel !== '*' && !known.has(channel)) {
          errors.push({ path: `${where}.channels.${j}`, message: `'${channel}' is not a queue or topic of this configuration (queues: ${Object.keys(file.queues).join(', ') || 'none'}; topics: ${Object.keys(file.topics).join(', ') || 'none'})` });
        }
      }
    }
    if (k.key === '') return;
    // The Authorization header's value loses surrounding whitespace in transit: such a key could never match.
    if (/^\s|\s$/.test(k.key) || /[^\x21-\x7e ]/.test(k.key)) errors.push({ path: `${where}.key`, message: 'an API key is printable ASCII without whitespace at either end, or a Bearer header could never carry it' });
    const first = seen.get(k.key);
    if (first !== undefined) errors.push({ path: `${where}.key`, message: `the same key as server.apiKeys.${first}: give each key its own secret (a key has one role)` });
    else seen.set(k.key, i);
  });
}

/**
 * A connection string pg reads as one: postgres:// or postgresql:// (a host, or none with
 * `?host=/socket/dir`), or socket:/path. Anything else (a host name alone, an http URL) is a mistake.
 */
function isPostgresUrl(text: string): boolean {
  return /^(postgres|postgresql):\/\/\S*$/i.test(text) || /^socket:\S+$/i.test(text);
}
