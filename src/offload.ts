import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { pino, type Logger } from 'pino';
import { buildConfig, retentionCutoffs, type OffloadConfig } from './config/load.js';
import type { ConfigInput } from './config/schema.js';
import { systemClock, type Clock, type Random } from './domain/clock.js';
import { ConflictError } from './domain/errors.js';
import { createCompleter } from './delivery/completer.js';
import { createDispatcher, type DeliveryEvent, type DeliveryGate, type Dispatcher } from './delivery/dispatcher.js';
import { createHttpClient, type HttpSend } from './delivery/http-client.js';
import { createServer, VERSION } from './server/app.js';
import { createEventHub, type EventHub } from './server/event-hub.js';
import { createMetrics } from './server/metrics.js';
import { createStatsCache } from './server/stats-cache.js';
import { createLogThrottle, errorKey } from './server/log-throttle.js';
import { trackWrites } from './storage/write-health.js';
import type { Store } from './storage/port.js';
import { createSqliteStore } from './storage/sqlite/sqlite-store.js';
import { createPostgresStore } from './storage/postgres/index.js';
import { createNotifier } from './delivery/notifier.js';
import { createDrainer } from './delivery/drain.js';
import type { HeldReason } from './domain/drain.js';
import { createBreakerGate, type BreakerGate } from './delivery/breakers.js';
import { createRates } from './telemetry/rates.js';
import { createRateFeed } from './telemetry/rate-feed.js';
import { createTracing } from './telemetry/tracing.js';
import { createEndpointLimiter } from './delivery/endpoint-limits.js';
import { registerFlowMetrics } from './server/flow-metrics.js';
import { createBackpressure } from './server/backpressure.js';
import { createScheduleRunner } from './delivery/schedule-runner.js';
import { createExpirySweep } from './delivery/expiry-sweep.js';
import { EXPIRED_REASON } from './domain/message.js';
import { systemScheduler, type Scheduler } from './domain/scheduler.js';
import { createUnderWay } from './domain/under-way.js';

export interface OffloadOptions {
  logger?: Logger;
  clock?: Clock;
  random?: Random;
  /** Timers of the schedule runner (tests pass a fake scheduler together with a fake clock). */
  scheduler?: Scheduler;
  /** Replace the HTTP client (tests of the delivery path use real servers instead). */
  send?: HttpSend;
  /** Use an already-open store instead of the configured one. */
  store?: Store;
  gate?: DeliveryGate;
  /** Instance id used as lease owner. */
  instanceId?: string;
}

export interface Offload {
  config: OffloadConfig;
  store: Store;
  dispatcher: Dispatcher;
  events: EventHub;
  instanceId: string;
  /** Base URL of the HTTP API once listening. */
  url: string;
  /** Opens the store, declares channels, starts delivering and listening. Once per instance: a second call throws a ConflictError and changes nothing. */
  start(): Promise<void>;
  /** Graceful stop: no new claims, in-flight calls finish (up to shutdownGrace), the rest is released. */
  stop(): Promise<void>;
}

/** A configuration checked by `buildConfig` or `loadConfigFile` (its queues are a Map), not one as written. */
function isBuilt(config: OffloadConfig | ConfigInput): config is OffloadConfig {
  // Anything else (null from a JavaScript caller too) goes to the schema, which says what is wrong.
  return typeof config === 'object' && config !== null && (config as OffloadConfig).queues instanceof Map;
}

/**
 * Composes the store, the dispatcher and the HTTP API from a configuration: one as written in
 * `offload.yaml` (an object; checked here, `${VAR}` taken from the environment, a ConfigError
 * naming each wrong field) or one `buildConfig` / `loadConfigFile` returned.
 */
export async function createOffload(input: OffloadConfig | ConfigInput, options: OffloadOptions = {}): Promise<Offload> {
  const config = isBuilt(input) ? input : buildConfig(input, { source: 'createOffload' });
  const logger = options.logger ?? pino({ level: process.env.OFFLOAD_LOG_LEVEL ?? 'info' });
  const instanceId = options.instanceId ?? `offload-${randomBytes(4).toString('hex')}`;
  const logThrottle = createLogThrottle(logger);
  // Every write is watched: one that fails makes the instance not ready until a write succeeds again.
  const tracked = trackWrites(options.store ?? (await openStore(config, options.clock)), {
    onChange: (failing, reason) => {
      if (failing) logger.error({ alert: 'store-writes-failing', reason }, `ALERT: the store refuses writes (${reason}); not ready until a write succeeds again`);
      else logger.info('the store accepts writes again; ready');
    },
  });
  const store = tracked.store;
  // Times compared with stored ones (retry times, leases, breaker cool-downs) come from the
  // store's clock: on PostgreSQL the database's, so instances with skewed host clocks agree.
  const clock = options.clock ?? store.clock;
  const http = options.send ? undefined : createHttpClient();
  const events = createEventHub();
  // One stats computation per scrape (and per dashboard refresh), shared and cached briefly.
  // Wall time, not the injected clock: a test's frozen clock must not freeze the figures.
  const statsCache = createStatsCache(store);
  const metrics = createMetrics(statsCache, () => breakerViews());
  let started = false;
  let startCalled = false;
  // Readiness turns false for a while after the store failed, so load balancers steer producers away.
  let lastStoreError = Number.NEGATIVE_INFINITY;
  let sweeper: NodeJS.Timeout | undefined;
  let breakerSync: NodeJS.Timeout | undefined;
  /** Periodic store work under way (a sweep, a read of shared breaker states): stop() waits for it before the store closes. */
  const periodic = createUnderWay();
  /** Ends a sweep under way at its next slice when stopping. */
  const sweepStop = new AbortController();
  const underWay = (work: Promise<void>) => void periodic.track(work);
  let unsubscribeWake: (() => void) | undefined;

  const gate =
    options.gate ??
    createBreakerGate({
      store,
      clock,
      targets: config.targets,
      policyFor: (endpoint) => config.breakers.get(endpoint) ?? null,
      onTransition: (origin, t) => {
        const line = `circuit breaker for ${origin}: ${t.from} -> ${t.to} (${t.reason})`;
        if (t.to === 'open') logger.error({ alert: 'breaker-open', origin, reason: t.reason }, `ALERT: ${line}`);
        else logger.info({ origin, reason: t.reason }, line);
        events.publish({ type: 'breaker', at: clock.now(), origin, from: t.from, to: t.to, reason: t.reason });
        if (t.to === 'closed') dispatcher.wake();
      },
      onError: (error) => logThrottle.warn(errorKey('breaker save', error), { err: error }, 'could not share a circuit breaker state; will retry'),
    });
  const breakerViews = () => ('views' in gate ? (gate as BreakerGate).views() : []);
  const notifier = createNotifier(config, store, (targets) => dispatcher.wake(targets), clock, logger);
  const tracing = config.telemetry.tracesUrl ? createTracing({ tracesUrl: config.telemetry.tracesUrl, serviceName: config.telemetry.serviceName, version: VERSION }) : undefined;
  const rates = createRates();
  const rateFeed = createRateFeed({ rates, stats: () => statsCache.stats(), targets: config.targets, breakers: () => breakerViews(), clock, onError: (error) => logger.warn({ err: error }, 'sampling channel stats for the charts failed; will retry') });
  const limiter = createEndpointLimiter({
    store,
    clock,
    targets: config.targets,
    limits: config.endpointLimits,
    owner: instanceId,
    onAvailable: (targets) => dispatcher.wake(targets),
    onError: (error) => logThrottle.warn(errorKey('concurrency slots', error), { err: error }, 'releasing or renewing shared concurrency slots failed; will retry'),
    onCut: (endpoint, view) => {
      logger.warn({ endpoint, rate: view.currentRate, concurrency: view.currentConcurrency }, `endpoint ${endpoint} is throttling: adaptive limit cut`);
      events.publish({ type: 'endpoint-limit', at: clock.now(), endpoint, rate: view.currentRate, concurrency: view.currentConcurrency });
    },
  });
  const onEvent = (event: DeliveryEvent) => {
    // A lane that just stalled or parked shows so at once: the alert may reach someone who then asks.
    if (event.newlyBlocked) statsCache.invalidate();
    metrics.record(event);
    rateFeed.onEvent(event);
    notifier.notify(event);
    // Built only for a listener (the event stream): this runs for every delivery.
    if (events.listeners() > 0) {
      const { latenciesMs: _latencies, ...live } = event;
      events.publish({ ...live, at: clock.now() });
    }
    if (event.type === 'deadlettered') logger.warn({ target: event.target, ids: event.ids, reason: event.reason }, 'message dead-lettered');
    if (event.newlyBlocked) {
      const what = event.type === 'parked' ? `key '${event.lane}' of ${event.target} parked` : `${event.target}${event.lane ? ` key '${event.lane}'` : ''} stalled`;
      logger.error({ alert: event.type, target: event.target, lane: event.lane, ids: event.ids, reason: event.reason }, `ALERT: ${what}: ${event.reason}`);
    }
  };

  const expirySweep = createExpirySweep({
    store,
    intervalMs: config.delivery.pollInterval,
    onExpired(expired) {
      const byTarget = new Map<string, string[]>();
      for (const e of expired) byTarget.set(e.target, [...(byTarget.get(e.target) ?? []), e.messageId]);
      for (const [target, ids] of byTarget) {
        metrics.expired(target, ids.length);
        // A dead letter like any other for notifications and the event stream; no attempt was made.
        const event: DeliveryEvent = { type: 'deadlettered', target, lane: null, ids, attempt: 0, durationMs: 0, reason: EXPIRED_REASON };
        notifier.notify(event);
        events.publish({ ...event, at: clock.now() });
        logger.warn({ target, ids, reason: EXPIRED_REASON }, 'message expired: dead-lettered without an attempt');
      }
    },
    onError: (error) => logThrottle.warn(errorKey('expire', error), { err: error }, 'dead-lettering expired messages failed; will retry'),
  });

  const backpressure = createBackpressure({
    store,
    now: () => clock.now(),
    limits: config.backpressure,
    targetsOf: (channel) => config.topics.get(channel) ?? [channel],
    filterOf: (target) => {
      const t = config.targets.find((c) => c.name === target);
      return t?.kind === 'subscription' ? (t.filter ?? null) : null;
    },
    onThrottled: (throttle, refused) => {
      logger.warn({ channel: throttle.channel, depth: throttle.depth, retryAfter: throttle.retryAfterSeconds }, `producers pushed back: ${throttle.reason}`);
      events.publish({ type: 'throttled', at: clock.now(), channel: throttle.channel, reason: throttle.reason, depth: throttle.depth, oldestAgeMs: throttle.oldestAgeMs, retryAfter: throttle.retryAfterSeconds, refused });
    },
  });
  registerFlowMetrics(metrics.registry, { endpoints: () => limiter.views(), channels: () => backpressure.views() });

  const completer = createCompleter({ store, targets: config.targets, clock, random: options.random ?? Math.random, onEvent, wake: (targets) => dispatcher.wake(targets) });
  const dispatcher = createDispatcher({
    store,
    targets: config.targets,
    send: options.send ?? http!.send,
    owner: instanceId,
    clock,
    random: options.random ?? Math.random,
    pollIntervalMs: config.delivery.pollInterval,
    gate,
    limiter,
    onEvent,
    tracer: tracing,
    completionToken: (lease) => completer.mint(lease),
    onError: (error, context) => {
      lastStoreError = clock.now();
      logThrottle.warn(errorKey(context, error), { err: error }, `store error while ${context}; will retry`);
    },
  });

  const scheduleRunner = createScheduleRunner({
    store,
    schedules: config.schedules,
    clock,
    scheduler: options.scheduler ?? systemScheduler,
    retryMs: config.delivery.pollInterval,
    // The store wakes the dispatcher for what it stores (Store.onWake).
    onSent: (schedule, tick, duplicate) => {
      logger.debug({ schedule: schedule.name, tick: new Date(tick).toISOString(), duplicate }, 'schedule tick sent');
    },
    onError: (error) => logThrottle.warn(errorKey('schedules', error), { err: error }, 'sending scheduled messages failed; will retry'),
  });

  // Test setups only (testing.drain): deliver what is due on demand and report what is left.
  const drainer = config.testing.drain
    ? createDrainer({
        store,
        clock,
        wake: (targets) => dispatcher.wake(targets),
        subscribe: (listener) => events.subscribe(listener),
        settled: () => notifier.settled(),
        expire: () => expirySweep.run(),
        mint: (lease) => completer.mint(lease),
        held: () => {
          const open = new Set(breakerViews().filter((b) => b.state === 'open').flatMap((b) => b.endpoints));
          const retryAfter = new Set(limiter.views().filter((v) => v.heldUntil !== null && v.heldUntil > clock.now()).map((v) => v.endpoint));
          const held = new Map<string, HeldReason>();
          for (const t of config.targets) {
            if (open.has(t.endpoint)) held.set(t.name, 'breaker-open');
            else if (retryAfter.has(t.endpoint)) held.set(t.name, 'retry-after');
          }
          return held;
        },
        recheckMs: Math.min(250, config.delivery.pollInterval),
      })
    : undefined;

  const server = createServer(
    {
      config,
      store,
      wake: (targets) => dispatcher.wake(targets),
      events,
      ready: () => started && clock.now() - lastStoreError > 5_000,
      writes: () => ({ failing: tracked.health.failing(), reason: tracked.health.reason() }),
      now: () => clock.now(),
      breakers: breakerViews,
      stats: () => statsCache.stats(),
      changed: () => statsCache.invalidate(),
      ...(drainer ? { drain: drainer.drain } : {}),
      rates,
      tracing,
      endpointLimits: () => limiter.views(),
      backpressure,
      complete: (token, outcome, mayComplete) => completer.complete(token, outcome, mayComplete),
    },
    { logger, metrics, logThrottle },
  );

  const offload: Offload = {
    config,
    store,
    dispatcher,
    events,
    instanceId,
    url: '',
    async start() {
      // A second start would fail to listen and, on its way out, close the store the first one runs on.
      if (startCalled) throw new ConflictError('start() was called already: an Offload starts once (createOffload another to start again)');
      startCalled = true;
      await store.migrate();
      await store.declare(config.channels);
      if (config.targets.some((t) => t.asyncTimeoutMs !== undefined)) await completer.init();
      try {
        await server.listen({ port: config.server.port, host: config.server.host });
      } catch (error) {
        await http?.close();
        if (!options.store) await store.close();
        throw error;
      }
      const address = server.server.address() as AddressInfo;
      offload.url = `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
      // The HTTP client compiles its response parser on first use (tens of ms, more on a busy
      // machine); one call to ourselves pays that now, so the first deliveries to a rate-limited
      // endpoint do not bunch up behind it and arrive closer together than they were paced.
      if ([...config.endpointLimits.values()].some((l) => l.rateLimit || l.adaptive)) {
        await http?.send({ url: `${offload.url}/healthz`, body: '', headers: {}, timeoutMs: 5_000 }).catch(() => undefined);
      }
      dispatcher.start();
      scheduleRunner.start();
      // Other instances (and outbox writes) announce new work through the store, and pauses
      // and seeks (this instance's too), which end what was claimed ahead.
      const unsubscribeWork = store.onWake((targets) => dispatcher.wake(targets));
      const unsubscribeHold = store.onHold((targets) => dispatcher.hold(targets));
      // A send to a queue claims this instance's free slots in its own transaction (no wake-up, no claim after it).
      const unsubscribeHandOff = store.handOffSends(dispatcher.handOff);
      unsubscribeWake = () => {
        unsubscribeWork();
        unsubscribeHold();
        unsubscribeHandOff();
      };
      if ('sync' in gate) {
        breakerSync = setInterval(() => {
          underWay((gate as BreakerGate).sync().catch((error: unknown) => logThrottle.warn(errorKey('breaker sync', error), { err: error }, 'reading shared circuit breaker states failed; will retry')));
        }, Math.max(250, config.delivery.pollInterval));
        breakerSync.unref();
      }
      // One sweep at a time: a large one (it goes in slices) may take longer than the interval.
      let sweeping = false;
      sweeper = setInterval(() => {
        if (sweeping) return;
        sweeping = true;
        const cutoffs = retentionCutoffs(config, clock.now());
        underWay(store
          .sweep(cutoffs.olderThan, cutoffs.topics, sweepStop.signal)
          .then(() => undefined, (error: unknown) => logThrottle.warn(errorKey('sweep', error), { err: error }, 'sweeping old messages failed; will retry'))
          .finally(() => {
            sweeping = false;
          }));
      }, 60_000);
      sweeper.unref();
      expirySweep.start();
      rateFeed.start();
      started = true;
    },
    async stop() {
      started = false;
      drainer?.close();
      if (sweeper) clearInterval(sweeper);
      sweepStop.abort();
      await expirySweep.stop();
      if (breakerSync) clearInterval(breakerSync);
      await periodic.settled();
      await rateFeed.stop();
      await scheduleRunner.stop();
      unsubscribeWake?.();
      await server.close();
      await dispatcher.stop(config.delivery.shutdownGrace);
      await limiter.close();
      await http?.close();
      await tracing?.shutdown().catch((error: unknown) => logger.warn({ err: error }, 'could not send the last trace spans'));
      tracked.close();
      logThrottle.close();
      if (!options.store) await store.close();
    },
  };
  return offload;
}

/** SQLite keeps the process clock; PostgreSQL stamps times with the database's clock unless a clock is injected. */
async function openStore(config: OffloadConfig, clock: Clock | undefined): Promise<Store> {
  if ('sqlite' in config.storage) return createSqliteStore({ path: config.storage.sqlite.path, durability: config.storage.sqlite.durability, clock: clock ?? systemClock });
  const { url, schema, poolSize } = config.storage.postgres;
  return createPostgresStore({ url, schema, poolSize, clock });
}

export function describeStore(config: OffloadConfig): string {
  if ('sqlite' in config.storage) return `SQLite ${config.storage.sqlite.path} (durability ${config.storage.sqlite.durability})`;
  const url = new URL(config.storage.postgres.url);
  return `PostgreSQL ${url.hostname}:${url.port || 5432}${url.pathname} schema ${config.storage.postgres.schema}`;
}
