import { describe, expect, it } from 'vitest';
import type { FifoTarget, QueueTarget, SubscriptionTarget, Target } from '../domain/channel.js';
import { ConfigError } from '../domain/errors.js';
import { profileOf } from '../domain/profile.js';
import { buildConfig, retentionCutoffs } from './load.js';

const endpoints = { sink: { url: 'http://127.0.0.1:9000/' } };
const build = (raw: unknown, env: NodeJS.ProcessEnv = {}) => buildConfig(raw, { env });
const target = (targets: readonly Target[], name: string) => targets.find((t) => t.name === name);

/** The validation errors of a configuration that must be refused. */
function errorsOf(raw: unknown, env: NodeJS.ProcessEnv = {}): Array<{ path: string; message: string }> {
  try {
    build(raw, env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    const config = error as ConfigError;
    expect(config.code).toBe('invalid_config');
    for (const e of config.details?.errors ?? []) expect(config.message).toContain(`${e.path}: ${e.message}`);
    return config.details?.errors ?? [];
  }
  throw new Error('expected the configuration to be refused');
}

describe('buildConfig', () => {
  it('refuses settings that cannot work: a lease under 100ms, a timeout or poll interval of nothing, sizes under a byte, names and URLs it says how to write', () => {
    const at = (raw: unknown) => errorsOf(raw).map((e) => `${e.path}: ${e.message}`);
    expect(at({ endpoints, queues: { f: { endpoint: 'sink', kind: 'fifo', lockDuration: '0s' } } })).toEqual([expect.stringMatching(/^queues\.f\.lockDuration: at least 100ms: the lease a call holds/)]);
    expect(at({ endpoints, queues: { f: { endpoint: 'sink', lockDuration: '99ms' } } })).toHaveLength(1);
    expect(at({ endpoints, queues: { q: { endpoint: 'sink', timeout: '0s' } } })).toEqual([expect.stringMatching(/^queues\.q\.timeout: at least 10ms/)]);
    expect(at({ endpoints: { sink: { url: 'http://127.0.0.1:9', timeout: '0s' } } })).toEqual([expect.stringMatching(/^endpoints\.sink\.timeout: at least 10ms/)]);
    expect(at({ delivery: { pollInterval: '0s' } })).toEqual([expect.stringMatching(/^delivery\.pollInterval: at least 10ms/)]);
    expect(at({ server: { bodyLimit: 0 } })).toEqual([expect.stringMatching(/^server\.bodyLimit: 0 is not a size/)]);
    expect(at({ server: { bodyLimit: 1.5 } })).toEqual([expect.stringMatching(/^server\.bodyLimit: 1\.5 is not a size/)]);
    expect(at({ delivery: { maxPayload: -1 } })).toEqual([expect.stringMatching(/^delivery\.maxPayload: -1 is not a size/)]);
    expect(at({ delivery: { maxPayload: '0KiB' } })).toEqual([expect.stringMatching(/^delivery\.maxPayload: '0KiB' is not a size Offload can use/)]);
    expect(at({ endpoints, queues: { 'bad name/x': { endpoint: 'sink' } } })).toEqual([expect.stringMatching(/^queues\.bad name\/x: names are 1-100 letters, digits/)]);
    expect(at({ endpoints: { sink: { url: 'localhost:9000' } } })).toEqual(['endpoints.sink.url: an http:// or https:// URL, e.g. http://127.0.0.1:9000 or https://api.example.com/hooks']);
    // Credentials in the URL would never be sent; the error says so without repeating them.
    const withCredentials = at({ endpoints: { sink: { url: 'https://svc:hunter2@api.example.com/hooks' } } });
    expect(withCredentials).toEqual([expect.stringMatching(/^endpoints\.sink\.url: an endpoint URL cannot carry credentials .* as a header/)]);
    expect(withCredentials.join()).not.toContain('hunter2');
    for (const url of ['not a url', 'http://', '', 'http://[::1']) {
      expect(at({ endpoints: { sink: { url } } })).toEqual(['endpoints.sink.url: an http:// or https:// URL, e.g. http://127.0.0.1:9000 or https://api.example.com/hooks']);
    }
    expect(build({ endpoints, queues: { f: { endpoint: 'sink', lockDuration: '100ms', timeout: '10ms' } }, delivery: { pollInterval: '10ms' } }).targets).toHaveLength(1);
    // A timer cannot wait past 2^31-1 ms (about 24.8 days): it would fire at once.
    expect(at({ endpoints: { sink: { url: 'http://127.0.0.1:9', timeout: '25d' } } })).toEqual(['endpoints.sink.timeout: at most 24d: a timer cannot wait longer']);
    expect(at({ delivery: { pollInterval: '25d', shutdownGrace: '30d' }, server: { requestTimeout: '0ms' } }).sort()).toEqual([
      'delivery.pollInterval: at most 24d: a timer cannot wait longer',
      'delivery.shutdownGrace: at most 24d: a timer cannot wait longer',
      expect.stringMatching(/^server\.requestTimeout: at least 100ms/),
    ]);
    expect(at({ server: { bodyLimit: '1MiB', maxBodiesInFlight: '1KiB' } })).toEqual([expect.stringMatching(/^server\.maxBodiesInFlight: 1024 bytes is less than bodyLimit \(1048576\)/)]);
    expect(build({ endpoints, queues: { a: { endpoint: 'sink', ttl: '36500d', lockDuration: '24d' } } }).targets).toHaveLength(1);
  });

  it('tells an unrecognized key that is a typo of a known one which key it probably meant', () => {
    const errors = errorsOf({
      endpoints: { sink: { url: 'http://127.0.0.1:9000/', timout: '5s' } },
      queues: { jobs: { endpoint: 'sink', concurency: 8, colour: 'blue' } },
      topics: { events: { subscriptions: { views: { endpoint: 'sink', odering: 'key' } } } },
    });
    expect(errors).toEqual([
      { path: 'endpoints.sink', message: 'Unrecognized key: "timout" (did you mean "timeout"?)' },
      { path: 'queues.jobs', message: 'Unrecognized keys: "concurency", "colour" ("concurency": did you mean "concurrency"?)' },
      { path: 'topics.events.subscriptions.views', message: 'Unrecognized key: "odering" (did you mean "ordering"?)' },
    ]);
    // Only keys of that place: a queue has no batchSize (a subscription's); a filter's types, not a message's type.
    expect(errorsOf({ endpoints: { sink: { url: 'http://127.0.0.1:9000/' } }, queues: { jobs: { endpoint: 'sink', batchsize: 5 } } })).toEqual([
      { path: 'queues.jobs', message: 'Unrecognized key: "batchsize"' },
    ]);
    expect(errorsOf({ endpoints: { sink: { url: 'http://127.0.0.1:9000/' } }, topics: { events: { subscriptions: { views: { endpoint: 'sink', filter: { type: ['A'] } } } } } })).toContainEqual(
      { path: 'topics.events.subscriptions.views.filter', message: 'Unrecognized key: "type" (did you mean "types"?)' },
    );
  });

  it('turns tracing on from telemetry.otlp.url or the standard OpenTelemetry variables, off otherwise', () => {
    expect(build({}).telemetry).toEqual({ tracesUrl: null, serviceName: 'offload' });
    expect(build({ telemetry: { otlp: { url: 'http://127.0.0.1:4318/' } } }).telemetry.tracesUrl).toBe('http://127.0.0.1:4318/v1/traces');
    expect(build({ telemetry: { otlp: { url: 'https://otel.example.com/v1/traces' } } }).telemetry.tracesUrl).toBe('https://otel.example.com/v1/traces');
    expect(build({}, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_SERVICE_NAME: 'offload-eu' }).telemetry).toEqual({ tracesUrl: 'http://collector:4318/v1/traces', serviceName: 'offload-eu' });
    expect(errorsOf({ telemetry: { otlp: { url: 'collector:4318' } } })[0]!.path).toBe('telemetry.otlp.url');
  });

  it('seeds queue policies from the ancillary preset', () => {
    const config = build({ endpoints, queues: { audits: { preset: 'ancillary', endpoint: 'sink', path: '/audits' } } });
    expect(target(config.targets, 'audits')).toEqual<QueueTarget>({
      kind: 'queue',
      name: 'audits',
      ordering: 'none',
      endpoint: 'sink',
      url: 'http://127.0.0.1:9000/audits',
      concurrency: 32,
      maxAttempts: 10,
      minBackoffMs: 1_000,
      maxBackoffMs: 300_000,
      timeoutMs: 30_000,
      lockDurationMs: 30_000,
      secrets: [],
      headers: {},
    });
    expect(config.queues.get('audits')).toBe('queue');
    expect(config.channels).toEqual([{ name: 'audits', kind: 'queue' }]);
  });

  it('puts a channel\'s path after the endpoint URL\'s own path and before its query', () => {
    const url = (base: string, path: string) => target(build({ endpoints: { e: { url: base } }, queues: { a: { endpoint: 'e', path } } }).targets, 'a')!.url;
    expect(url('http://127.0.0.1:9000/', '/audits')).toBe('http://127.0.0.1:9000/audits');
    expect(url('http://127.0.0.1:9000/base?x=1', '/x')).toBe('http://127.0.0.1:9000/base/x?x=1');
    expect(url('http://127.0.0.1:9000/base/?x=1', '/x?y=2')).toBe('http://127.0.0.1:9000/base/x?x=1&y=2');
  });

  it("declares a plain queue's ttl to the store", () => {
    const config = build({ endpoints, queues: { offers: { endpoint: 'sink', ttl: '5m' } } });
    expect(target(config.targets, 'offers')).toMatchObject({ ttlMs: 300_000 });
    expect(config.channels).toEqual([{ name: 'offers', kind: 'queue', ttlMs: 300_000 }]);
  });

  it('lets explicit settings win over the preset, with durations written 250ms, 30s and 5m', () => {
    const config = build({
      endpoints,
      queues: { audits: { preset: 'ancillary', endpoint: 'sink', concurrency: 4, maxAttempts: 3, minBackoff: '250ms', maxBackoff: '5m', timeout: '30s', lockDuration: '90s' } },
    });
    expect(target(config.targets, 'audits')).toMatchObject({ concurrency: 4, maxAttempts: 3, minBackoffMs: 250, maxBackoffMs: 300_000, timeoutMs: 30_000, lockDurationMs: 90_000 });
  });

  it('takes the endpoint timeout unless the channel sets its own', () => {
    const config = build({
      endpoints: { slow: { url: 'http://127.0.0.1:9001', timeout: '10s' } },
      queues: { a: { endpoint: 'slow' }, b: { endpoint: 'slow', timeout: '2s' } },
    });
    expect([target(config.targets, 'a')?.timeoutMs, target(config.targets, 'b')?.timeoutMs]).toEqual([10_000, 2_000]);
  });

  it('seeds fifo queues from aggregate-fifo, blocking by default', () => {
    const config = build({
      endpoints,
      queues: {
        provisionings: { preset: 'aggregate-fifo', endpoint: 'sink', path: '/provisionings' },
        refunds: { kind: 'fifo', endpoint: 'sink', onExhausted: 'deadletter', maxAttempts: 4 },
      },
    });
    expect(target(config.targets, 'provisionings')).toMatchObject<Partial<FifoTarget>>({ kind: 'fifo', ordering: 'key', onExhausted: 'block', concurrency: 16, maxAttempts: 10 });
    expect(target(config.targets, 'refunds')).toMatchObject<Partial<FifoTarget>>({ kind: 'fifo', onExhausted: 'deadletter', concurrency: 16, maxAttempts: 4 });
    expect([...config.queues]).toEqual([['provisionings', 'fifo'], ['refunds', 'fifo']]);
  });

  it('seeds subscriptions from domain-events; ordering topic means one in flight', () => {
    const config = build({
      endpoints,
      topics: {
        domain_events: {
          subscriptions: {
            'read-models': { preset: 'domain-events', endpoint: 'sink', path: '/events', batchSize: 100, stallAfterAttempts: 4, maxBatchWait: '250ms', concurrency: 8 },
            billing: { endpoint: 'sink', ordering: 'key', concurrency: 8, startFrom: 'beginning' },
          },
        },
      },
    });
    expect(target(config.targets, 'domain_events/read-models')).toMatchObject<Partial<SubscriptionTarget>>({
      kind: 'subscription',
      topic: 'domain_events',
      subscription: 'read-models',
      ordering: 'topic',
      concurrency: 1,
      batchSize: 100,
      maxBatchWaitMs: 250,
      stallAfterAttempts: 4,
      minBackoffMs: 1_000,
      maxBackoffMs: 60_000,
      startFrom: 'latest',
      url: 'http://127.0.0.1:9000/events',
    });
    expect(target(config.targets, 'domain_events/billing')).toMatchObject<Partial<SubscriptionTarget>>({ ordering: 'key', concurrency: 8, batchSize: 1, stallAfterAttempts: 10, startFrom: 'beginning' });
    expect(config.topics.get('domain_events')).toEqual(['domain_events/read-models', 'domain_events/billing']);
    expect(config.channels.find((c) => c.name === 'domain_events/billing')!.filter).toBeNull();
    expect(config.channels.map((c) => c.name)).toEqual(['domain_events', 'domain_events/read-models', 'domain_events/billing']);
  });

  it('claims 10 of an ordered lane ahead by default, one call each; not with batches or asyncTimeout, and never on a plain queue', () => {
    const config = build({
      endpoints,
      queues: { f: { kind: 'fifo', endpoint: 'sink' }, g: { kind: 'fifo', endpoint: 'sink', prefetch: 1 }, h: { kind: 'fifo', endpoint: 'sink', asyncTimeout: '1m' } },
      topics: { t: { subscriptions: { one: { endpoint: 'sink' }, keyed: { endpoint: 'sink', ordering: 'key', prefetch: 50 }, batched: { endpoint: 'sink', batchSize: 20 } } } },
    });
    // The profile applies the default where the configuration sets none.
    expect(config.targets.map((t) => [t.name, profileOf(t).prefetch])).toEqual([
      ['f', 10], ['g', 1], ['h', 1], ['t/one', 10], ['t/keyed', 50], ['t/batched', 1],
    ]);
    expect(errorsOf({ endpoints, queues: { q: { endpoint: 'sink', prefetch: 5 } } })).toEqual([
      { path: 'queues.q.prefetch', message: expect.stringMatching(/^prefetch applies to fifo queues and subscriptions/) },
    ]);
    expect(errorsOf({ endpoints, topics: { t: { subscriptions: { s: { endpoint: 'sink', batchSize: 10, prefetch: 5 } } } } })).toEqual([
      { path: 'topics.t.subscriptions.s.prefetch', message: expect.stringMatching(/^prefetch is for unbatched subscriptions/) },
    ]);
    expect(errorsOf({ endpoints, queues: { f: { kind: 'fifo', endpoint: 'sink', asyncTimeout: '1m', prefetch: 5 } } })).toEqual([
      { path: 'queues.f.prefetch', message: expect.stringMatching(/^prefetch does not apply with asyncTimeout/) },
    ]);
    expect(errorsOf({ endpoints, queues: { f: { kind: 'fifo', endpoint: 'sink', prefetch: 101 } } }).map((e) => e.path)).toEqual(['queues.f.prefetch']);
    expect(errorsOf({ endpoints, queues: { f: { kind: 'fifo', endpoint: 'sink', prefetch: 0 } } }).map((e) => e.path)).toEqual(['queues.f.prefetch']);
  });

  it('declares a subscription with its filter', () => {
    const config = build({ endpoints, topics: { t: { subscriptions: { s: { endpoint: 'sink', filter: { types: ['OrderPlaced', 'Order*'], keys: ['eu-*'] } } } } } });
    expect(config.channels.find((c) => c.name === 't/s')).toMatchObject({ kind: 'subscription', filter: { types: ['OrderPlaced', 'Order*'], keys: ['eu-*'] } });
    expect(target(config.targets, 't/s')).toMatchObject({ filter: { types: ['OrderPlaced', 'Order*'], keys: ['eu-*'] } });
  });

  it('keeps a topic with its own retention until its own cutoff, never below the dedup window', () => {
    const config = build({ endpoints, delivery: { retention: '1h', dedupWindow: '2h' }, topics: { events: { retention: '30d' }, short: { retention: '1m' }, plain: {} } });
    expect([...config.topicRetention]).toEqual([['events', 30 * 86_400_000], ['short', 60_000]]);
    const now = 100 * 86_400_000;
    expect(retentionCutoffs(config, now)).toEqual({ olderThan: now - 7_200_000, topics: { events: now - 30 * 86_400_000, short: now - 7_200_000 } });
    expect(errorsOf({ topics: { events: { retention: 'forever' } } })).toEqual([{ path: 'topics.events.retention', message: expect.stringContaining('not a duration') }]);
  });

  it('refuses API keys whose scope would be ignored or names no channel, and one key given twice', () => {
    const errors = errorsOf({
      endpoints,
      queues: { a: { endpoint: 'sink' } },
      topics: { t: { subscriptions: { s: { endpoint: 'sink' } } } },
      server: {
        apiKeys: [
          { key: 'v1', role: 'viewer', channels: ['a'] },
          { key: 'o1', role: 'operator', channels: ['a'] },
          { key: 'p1', role: 'producer', channels: ['a', 't', 'typo'] },
          { key: 'p1', role: 'operator' },
          { key: 'p2', role: 'producer' },
          { key: 'p3', role: 'producer', channels: [] },
          { key: 'p4', role: 'producer', channels: ['*'] },
          { key: ' ', role: 'viewer' },
          { key: 'tab\tkey', role: 'viewer' },
        ],
      },
    });
    const named = "a producer key sends only to the channels it names: list its queues and topics (e.g. [audits, domain_events]), or ['*'] for every channel";
    expect(errors).toEqual([
      { path: 'server.apiKeys.0.channels', message: expect.stringMatching(/^channels scopes producer keys only; a viewer key/) },
      { path: 'server.apiKeys.1.channels', message: expect.stringMatching(/^channels scopes producer keys only; an operator key/) },
      { path: 'server.apiKeys.2.channels.2', message: "'typo' is not a queue or topic of this configuration (queues: a; topics: t)" },
      { path: 'server.apiKeys.3.key', message: 'the same key as server.apiKeys.2: give each key its own secret (a key has one role)' },
      { path: 'server.apiKeys.4.channels', message: named },
      { path: 'server.apiKeys.5.channels', message: named },
      { path: 'server.apiKeys.7.key', message: 'an API key is printable ASCII without whitespace at either end, or a Bearer header could never carry it' },
      { path: 'server.apiKeys.8.key', message: 'an API key is printable ASCII without whitespace at either end, or a Bearer header could never carry it' },
    ]);
    // The message never repeats a key.
    expect(JSON.stringify(errors)).not.toContain('p1');
  });

  it('refuses a PostgreSQL URL that is not one, from the file or from --postgres', () => {
    expect(errorsOf({ endpoints, queues: { a: { endpoint: 'sink' } }, storage: { postgres: { url: 'notaurl' } } })).toEqual([
      { path: 'storage.postgres.url', message: 'is not a PostgreSQL URL: write it as postgres://user:password@host:5432/database' },
    ]);
    expect(() => buildConfig({ endpoints, queues: { a: { endpoint: 'sink' } } }, { env: {}, overrides: { postgresUrl: 'http://db:5432/app' } })).toThrow(/--postgres \(or OFFLOAD_DATABASE_URL\): is not a PostgreSQL URL/);
    for (const url of ['postgres://offload@db:5432/app', 'postgresql://u:p@127.0.0.1/app?sslmode=require', 'postgres:///offload?host=/var/run/postgresql', 'postgres://app@/offload?host=/var/run/postgresql']) {
      expect(build({ endpoints, queues: { a: { endpoint: 'sink' } }, storage: { postgres: { url } } }).storage).toMatchObject({ postgres: { url } });
    }
  });

  it('refuses a port from the environment or a flag that is not one', () => {
    for (const port of ['abc', '99999', '-1', '80.5']) {
      expect(() => build({ endpoints, queues: { a: { endpoint: 'sink' } } }, { OFFLOAD_PORT: port })).toThrow(/--port \(or PORT, OFFLOAD_PORT\): is not a port: give a whole number from 0 to 65535/);
    }
    expect(build({ endpoints, queues: { a: { endpoint: 'sink' } } }, { OFFLOAD_PORT: '8081' }).server.port).toBe(8081);
  });

  it('fills server, storage and delivery defaults', () => {
    const config = build({});
    expect(config.server).toEqual({ port: 8080, host: '127.0.0.1', bodyLimit: 5 * 1024 * 1024, requestTimeout: 30_000, maxConnections: 4_096, maxBodiesInFlight: 256 * 1024 * 1024, apiKeys: [] });
    expect(config.storage).toEqual({ sqlite: { path: './data/offload.db', durability: 'fsync' } });
    expect(config.delivery).toEqual({ maxPayload: 262_144, maxDepth: 64, dedupWindow: 86_400_000, retention: 604_800_000, pollInterval: 1_000, shutdownGrace: 30_000 });
    expect(config.targets).toEqual([]);
    expect(config.testing).toEqual({ drain: false });
  });

  it('enables drain only when testing.drain says so', () => {
    expect(build({ testing: { drain: true } }).testing).toEqual({ drain: true });
    expect(build({ testing: {} }).testing).toEqual({ drain: false });
    expect(errorsOf({ testing: { drain: 'yes' } })).toEqual([{ path: 'testing.drain', message: expect.stringContaining('expected boolean') }]);
    expect(errorsOf({ testing: { drian: true } })).toEqual([{ path: 'testing', message: expect.stringContaining('"drian"') }]);
  });

  it('reads sizes and lets environment and flags override the file', () => {
    const config = buildConfig(
      { server: { port: 9000, bodyLimit: '1MiB' }, delivery: { maxPayload: '64KiB' } },
      { env: { OFFLOAD_PORT: '9100', OFFLOAD_HOST: '0.0.0.0' }, overrides: { port: 9200, sqlitePath: '/tmp/x.db' } },
    );
    expect(config.server).toMatchObject({ port: 9200, host: '0.0.0.0', bodyLimit: 1_048_576 });
    expect(config.delivery.maxPayload).toBe(65_536);
    expect(config.storage).toEqual({ sqlite: { path: '/tmp/x.db', durability: 'fsync' } });
  });

  it('resolves secrets from the environment, in rotation order', () => {
    const config = build(
      { endpoints: { sink: { url: 'http://127.0.0.1:9000', secret: { env: 'SINK_SECRET' }, secrets: ['whsec_b2xk', { env: 'SINK_NEXT' }] } }, queues: { a: { endpoint: 'sink' } }, server: { apiKeys: [{ key: { env: 'OPS_KEY' }, role: 'operator' }] } },
      { SINK_SECRET: 'whsec_c2VjcmV0', SINK_NEXT: 'whsec_bmV4dA==', OPS_KEY: 'k-1' },
    );
    expect(config.targets[0]!.secrets).toEqual(['whsec_c2VjcmV0', 'whsec_b2xk', 'whsec_bmV4dA==']);
    expect(config.server.apiKeys).toEqual([{ key: 'k-1', role: 'operator' }]);
  });

  it('returns a deeply frozen object', () => {
    const config = build({ endpoints, queues: { audits: { endpoint: 'sink' } }, server: { apiKeys: [{ key: 'k', role: 'producer', channels: ['audits'] }] } });
    for (const part of [config, config.server, config.server.apiKeys, config.server.apiKeys[0], config.server.apiKeys[0]!.channels, config.storage, config.delivery, config.targets, config.targets[0], config.targets[0]!.secrets, config.channels]) {
      expect(Object.isFrozen(part)).toBe(true);
    }
    expect(() => {
      (config.delivery as { maxPayload: number }).maxPayload = 1;
    }).toThrow(TypeError);
  });

  describe('refuses', () => {
    it('a value out of range, naming its key path', () => {
      expect(errorsOf({ endpoints, queues: { audits: { endpoint: 'sink', concurrency: 0 } } })).toEqual([{ path: 'queues.audits.concurrency', message: expect.stringContaining('>=1') }]);
      expect(errorsOf({ endpoints, queues: { audits: { endpoint: 'sink', concurrency: 'lots' } } })).toEqual([{ path: 'queues.audits.concurrency', message: expect.stringContaining('expected number') }]);
    });

    it('a reference to an endpoint that is not defined, listing the defined ones', () => {
      expect(errorsOf({ endpoints, queues: { audits: { endpoint: 'mailer' } } })).toEqual([{ path: 'queues.audits.endpoint', message: "endpoint 'mailer' is not defined under endpoints (defined: sink)" }]);
      expect(errorsOf({ endpoints, topics: { t: { subscriptions: { s: { endpoint: 'mailer' } } } } })).toEqual([{ path: 'topics.t.subscriptions.s.endpoint', message: "endpoint 'mailer' is not defined under endpoints (defined: sink)" }]);
    });

    it('a bad duration, saying how to write one', () => {
      expect(errorsOf({ endpoints, queues: { audits: { endpoint: 'sink', minBackoff: 'soon' } } })).toEqual([
        { path: 'queues.audits.minBackoff', message: "'soon' is not a duration: write it like 250ms, 30s, 5m, 2h or 1d" },
      ]);
      expect(errorsOf({ endpoints: { sink: { url: 'http://127.0.0.1:9000', timeout: '10 seconds' } } })[0]!.path).toBe('endpoints.sink.timeout');
    });

    it('minBackoff larger than maxBackoff', () => {
      expect(errorsOf({ endpoints, queues: { audits: { endpoint: 'sink', minBackoff: '10s', maxBackoff: '1s' } } })).toEqual([
        { path: 'queues.audits.minBackoff', message: 'minBackoff (10000ms) is larger than maxBackoff (1000ms)' },
      ]);
    });

    it('unknown keys anywhere (strict), naming where and which', () => {
      expect(errorsOf({ endpoints, queues: { audits: { endpoint: 'sink', retries: 3 } } })).toEqual([{ path: 'queues.audits', message: expect.stringContaining('"retries"') }]);
      expect(errorsOf({ endpoints, queus: {} })).toEqual([{ path: '(root)', message: expect.stringContaining('"queus"') }]);
      expect(errorsOf({ endpoints: { sink: { url: 'http://127.0.0.1:9000', secret: { env: 'X', value: 'y' } } } })[0]!.path).toMatch(/^endpoints\.sink\.secret/);
    });

    it('maxAttempts on a subscription, explaining why', () => {
      expect(errorsOf({ endpoints, topics: { t: { subscriptions: { s: { endpoint: 'sink', maxAttempts: 5 } } } } })).toEqual([
        { path: 'topics.t.subscriptions.s.maxAttempts', message: 'subscriptions never give up on an event (order would break); use stallAfterAttempts' },
      ]);
    });

    it('dead-lettering on a subscription, explaining why', () => {
      const [error, ...rest] = errorsOf({ endpoints, topics: { t: { subscriptions: { s: { endpoint: 'sink', onExhausted: 'deadletter' } } } } });
      expect(rest).toEqual([]);
      expect(error!.path).toBe('topics.t.subscriptions.s.onExhausted');
      expect(error!.message).toMatch(/order/);
      expect(error!.message).toMatch(/stall/);
    });

    it('a subscription filter without types, with an empty list, a bad pattern, or too many or too long patterns, naming the path', () => {
      const sub = (filter: unknown) => ({ endpoints, topics: { t: { subscriptions: { s: { endpoint: 'sink', filter } } } } });
      expect(errorsOf(sub({ keys: ['k'] })).map((e) => e.path)).toEqual(['topics.t.subscriptions.s.filter.types']);
      expect(errorsOf(sub({ types: [] }))).toEqual([{ path: 'topics.t.subscriptions.s.filter.types', message: expect.stringContaining('at least one pattern') }]);
      expect(errorsOf(sub({ types: ['Order*'], keys: ['eu *'] }))).toEqual([{ path: 'topics.t.subscriptions.s.filter.keys.0', message: expect.stringContaining('printable ASCII') }]);
      expect(errorsOf(sub({ types: ['ok', ''] }))).toEqual([{ path: 'topics.t.subscriptions.s.filter.types.1', message: 'a pattern cannot be empty' }]);
      expect(errorsOf(sub({ types: Array.from({ length: 101 }, (_, i) => `T${i}`) }))).toEqual([{ path: 'topics.t.subscriptions.s.filter.types', message: 'at most 100 patterns' }]);
      expect(errorsOf(sub({ types: ['x'.repeat(201)] }))).toEqual([{ path: 'topics.t.subscriptions.s.filter.types.0', message: 'a pattern is at most 200 characters' }]);
      expect(errorsOf(sub({ types: ['A'], values: ['x'] }))[0]!.path).toBe('topics.t.subscriptions.s.filter');
    });

    it('a batchSize with ordering key', () => {
      expect(errorsOf({ endpoints, topics: { t: { subscriptions: { s: { endpoint: 'sink', ordering: 'key', batchSize: 10 } } } } })).toEqual([
        { path: 'topics.t.subscriptions.s.batchSize', message: 'batches are for ordering: topic; with ordering: key each key gets one event at a time' },
      ]);
    });

    it('onExhausted on a plain queue, and presets used on the wrong kind of channel', () => {
      expect(errorsOf({ endpoints, queues: { a: { endpoint: 'sink', onExhausted: 'block' } } }).map((e) => e.path)).toEqual(['queues.a.onExhausted']);
      expect(errorsOf({ endpoints, queues: { a: { endpoint: 'sink', preset: 'domain-events' } } }).map((e) => e.path)).toEqual(['queues.a.preset']);
      expect(errorsOf({ endpoints, topics: { t: { subscriptions: { s: { endpoint: 'sink', preset: 'ancillary' } } } } }).map((e) => e.path)).toEqual(['topics.t.subscriptions.s.preset']);
    });

    it('ttl on a fifo queue, a topic or a subscription, explaining why; and a ttl of zero', () => {
      expect(errorsOf({ endpoints, queues: { f: { endpoint: 'sink', kind: 'fifo', ttl: '5m' } } })).toEqual([
        { path: 'queues.f.ttl', message: 'ttl is for plain queues: a fifo queue delivers each key in order, and an expired message would drop out of it' },
      ]);
      const topicErrors = errorsOf({ endpoints, topics: { t: { ttl: '5m', subscriptions: { s: { endpoint: 'sink', ttl: '1m' } } } } });
      expect(topicErrors.map((e) => e.path).sort()).toEqual(['topics.t.subscriptions.s.ttl', 'topics.t.ttl']);
      expect(topicErrors[0]!.message).toContain('ttl is for plain queues');
      expect(errorsOf({ endpoints, queues: { a: { endpoint: 'sink', ttl: '0s' } } })).toEqual([{ path: 'queues.a.ttl', message: 'ttl must be longer than 0' }]);
    });

    it('a queue and a topic of the same name', () => {
      expect(errorsOf({ endpoints, queues: { events: { endpoint: 'sink' } }, topics: { events: {} } })).toEqual([
        { path: 'topics.events', message: "'events' is already a queue: channel names must be unique" },
      ]);
    });

    it('a whsec_ secret that is not base64, once per endpoint however many targets call it, never repeating it', () => {
      const config = {
        endpoints: { sink: { url: 'http://127.0.0.1:9000', secret: 'whsec_!!!notbase64', secrets: [{ env: 'SINK_NEXT' }] } },
        queues: { a: { endpoint: 'sink' }, b: { endpoint: 'sink' }, c: { endpoint: 'sink' } },
      };
      const errors = errorsOf(config, { SINK_NEXT: 'whsec_' });
      expect(errors).toEqual([
        { path: 'endpoints.sink.secret', message: expect.stringMatching(/^a whsec_ secret must be standard base64/) },
        { path: 'endpoints.sink.secrets.0', message: expect.stringMatching(/^environment variable SINK_NEXT: a whsec_ secret needs its base64 key/) },
      ]);
      expect(JSON.stringify(errors)).not.toContain('!!!notbase64');
    });

    it('a missing environment variable once, however many targets use the endpoint', () => {
      expect(errorsOf({ endpoints: { sink: { url: 'http://127.0.0.1:9000', secret: { env: 'SINK_SECRET' } } }, queues: { a: { endpoint: 'sink' }, b: { endpoint: 'sink' } } })).toEqual([
        { path: 'endpoints.sink.secret', message: 'environment variable SINK_SECRET is not set' },
      ]);
    });

    it('a secret whose environment variable is not set, naming the variable and the key', () => {
      expect(errorsOf({ endpoints: { sink: { url: 'http://127.0.0.1:9000', secret: { env: 'SINK_SECRET' } } }, queues: { a: { endpoint: 'sink' } } })).toEqual([
        { path: 'endpoints.sink.secret', message: 'environment variable SINK_SECRET is not set' },
      ]);
      expect(errorsOf({ endpoints: { sink: { url: 'http://127.0.0.1:9000', secret: 's', secrets: ['t', { env: 'SINK_NEXT' }] } }, queues: { a: { endpoint: 'sink' } } }, { SINK_NEXT: '' })).toEqual([
        { path: 'endpoints.sink.secrets.1', message: 'environment variable SINK_NEXT is not set' },
      ]);
      expect(errorsOf({ server: { apiKeys: [{ key: { env: 'OPS_KEY' }, role: 'operator' }] } })).toEqual([{ path: 'server.apiKeys.0.key', message: 'environment variable OPS_KEY is not set' }]);
    });

    it('bad names and urls', () => {
      expect(errorsOf({ endpoints: { sink: { url: 'ftp://example.com' } } }).map((e) => e.path)).toEqual(['endpoints.sink.url']);
      expect(errorsOf({ endpoints, queues: { 'a/b': { endpoint: 'sink' } } }).map((e) => e.path)).toEqual(['queues.a/b']);
    });

    it('a bare number where a duration is expected', () => {
      const errors = errorsOf({ endpoints: { sink: { url: 'http://127.0.0.1:9', timeout: 10 } }, delivery: { pollInterval: 250 }, queues: { a: { endpoint: 'sink', maxBackoff: 60 } } });
      expect(errors).toEqual(
        expect.arrayContaining([
          { path: 'endpoints.sink.timeout', message: '10 is a bare number, not a duration: write it like 250ms, 30s, 5m, 2h or 1d' },
          { path: 'delivery.pollInterval', message: expect.stringContaining('write it like 250ms, 30s') },
          { path: 'queues.a.maxBackoff', message: expect.stringContaining('bare number') },
        ]),
      );
    });

    it('a duration longer than 100 years (36500d): a queue ttl or a retention past it would make times no date holds', () => {
      const errors = errorsOf({ endpoints, queues: { a: { endpoint: 'sink', ttl: '100000000000d' } }, topics: { t: { retention: `${'9'.repeat(400)}d`, subscriptions: { s: { endpoint: 'sink' } } } }, delivery: { retention: '36501d' } });
      expect(errors).toEqual(
        expect.arrayContaining([
          { path: 'queues.a.ttl', message: "'100000000000d' is longer than 36500d, the longest duration taken" },
          { path: 'topics.t.retention', message: expect.stringContaining('is longer than 36500d') },
          { path: 'delivery.retention', message: "'36501d' is longer than 36500d, the longest duration taken" },
        ]),
      );
      expect((target(build({ endpoints, queues: { a: { endpoint: 'sink', ttl: '36500d' } } }).targets, 'a') as { ttlMs?: number }).ttlMs).toBe(36_500 * 86_400_000);
    });

    it('endpoint headers must be valid HTTP fields', () => {
      const errors = errorsOf({ endpoints: { sink: { url: 'http://127.0.0.1:9', headers: { 'bad name': 'v', 'x-ok': 'a\r\nb' } } } });
      expect(errors.map((e) => e.path)).toEqual(['endpoints.sink.headers.bad name', 'endpoints.sink.headers.x-ok']);
    });

    it('endpoint headers: none that changes how the request travels or that Offload sets, no name twice, values from the environment', () => {
      const refused = errorsOf({
        endpoints: { sink: { url: 'http://127.0.0.1:9', headers: { 'Content-Length': '5', Host: 'evil', 'Webhook-Id': 'forged', 'X-A': 'x', 'x-a': 'y', Authorization: 'Bearer t', 'User-Agent': 'custom' } } },
      });
      expect(refused).toEqual([
        { path: 'endpoints.sink.headers.Content-Length', message: "'Content-Length' is set by Offload or changes how the request travels; an endpoint cannot set it" },
        { path: 'endpoints.sink.headers.Host', message: expect.stringContaining('an endpoint cannot set it') },
        { path: 'endpoints.sink.headers.Webhook-Id', message: expect.stringContaining('an endpoint cannot set it') },
        { path: 'endpoints.sink.headers.x-a', message: "'x-a' is given twice (header names are case-insensitive)" },
        { path: 'endpoints.sink.headers.User-Agent', message: expect.stringContaining('an endpoint cannot set it') },
      ]);
      const config = build(
        { endpoints: { sink: { url: 'http://127.0.0.1:9', headers: { Authorization: { env: 'SINK_TOKEN' }, 'X-Tenant': 'acme' } } }, queues: { a: { endpoint: 'sink' } } },
        { SINK_TOKEN: 'Bearer s3cret' },
      );
      expect(target(config.targets, 'a')!.headers).toEqual({ Authorization: 'Bearer s3cret', 'X-Tenant': 'acme' });
      const queues = { a: { endpoint: 'sink' } };
      expect(errorsOf({ endpoints: { sink: { url: 'http://127.0.0.1:9', headers: { Authorization: { env: 'SINK_TOKEN' } } } }, queues })).toEqual([
        { path: 'endpoints.sink.headers.Authorization', message: 'environment variable SINK_TOKEN is not set' },
      ]);
      const bad = errorsOf({ endpoints: { sink: { url: 'http://127.0.0.1:9', headers: { Authorization: { env: 'SINK_TOKEN' } } } }, queues }, { SINK_TOKEN: 'Bearer a\r\nX-Evil: 1' });
      expect(bad).toEqual([{ path: 'endpoints.sink.headers.Authorization', message: expect.stringMatching(/^environment variable SINK_TOKEN: the value holds a character/) }]);
      expect(JSON.stringify(bad)).not.toContain('X-Evil');
    });

    it('every problem at once, not only the first', () => {
      const errors = errorsOf({ endpoints, queues: { a: { endpoint: 'nope' }, b: { endpoint: 'sink', minBackoff: '2m', maxBackoff: '1m' } } });
      expect(errors.map((e) => e.path)).toEqual(['queues.a.endpoint', 'queues.b.minBackoff']);
    });
  });
});
