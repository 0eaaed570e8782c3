import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { DeliveryEvent } from '../delivery/dispatcher.js';
import { EXPIRED_REASON } from '../domain/message.js';
import type { Store } from '../storage/port.js';

export interface Metrics {
  registry: Registry;
  record(event: DeliveryEvent): void;
  sent(channel: string, count: number): void;
  /** Messages the expiry sweep dead-lettered (expired without a further attempt). */
  expired(target: string, count: number): void;
}

/**
 * Prometheus metrics; gauges are read from the store when scraped, so they are shared truths.
 * Pass a stats cache as `store` so the five gauges of one scrape share one computation.
 */
export function createMetrics(store: Pick<Store, 'stats'>, breakers: () => ReadonlyArray<{ origin: string; state: string }> = () => []): Metrics {
  const registry = new Registry();
  const deliveries = new Counter({ name: 'offload_deliveries_total', help: 'Delivery attempts by target and outcome', labelNames: ['target', 'outcome'], registers: [registry] });
  const duration = new Histogram({ name: 'offload_delivery_duration_seconds', help: 'Duration of delivery calls', labelNames: ['target'], buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30], registers: [registry] });
  const latency = new Histogram({
    name: 'offload_delivery_latency_seconds',
    help: 'Enqueue-to-delivery latency: from when a message could first be delivered (stored, or its deliverAt) until it was delivered',
    labelNames: ['target'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600],
    registers: [registry],
  });
  // Process metrics (CPU, memory, event loop lag, handles, GC) under the usual names.
  collectDefaultMetrics({ register: registry });
  const sent = new Counter({ name: 'offload_messages_sent_total', help: 'Messages accepted by channel', labelNames: ['channel'], registers: [registry] });
  const expired = new Counter({ name: 'offload_expired_total', help: 'Messages dead-lettered by this instance because they expired (ttl or expiresAt): never attempted again', labelNames: ['target'], registers: [registry] });
  // While the store cannot be read, a scrape still answers: the store's gauges are left out and
  // offload_store_up says why, the process metrics and counters stay (they matter most then).
  const storeUp = new Gauge({
    name: 'offload_store_up',
    help: 'Whether the store answered this scrape\'s statistics: 1 yes, 0 no',
    registers: [registry],
    async collect() {
      await readStats();
    },
  });
  const readStats = async (): Promise<Awaited<ReturnType<Store['stats']>>> => {
    try {
      const stats = await store.stats();
      storeUp.set(1);
      return stats;
    } catch {
      storeUp.set(0);
      return [];
    }
  };
  const gauge = (name: string, help: string, pick: (s: Awaited<ReturnType<Store['stats']>>[number]) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['channel'],
      registers: [registry],
      async collect() {
        this.reset();
        for (const s of await readStats()) this.set({ channel: s.name }, pick(s));
      },
    });
  gauge('offload_depth', 'Undelivered messages per queue or subscription', (s) => s.depth);
  gauge('offload_in_flight', 'Deliveries in flight', (s) => s.inFlight);
  gauge('offload_oldest_age_seconds', 'Age of the oldest undelivered message', (s) => s.oldestAgeMs / 1000);
  gauge('offload_dead_letters', 'Dead-lettered messages', (s) => s.deadLettered);
  gauge('offload_blocked_keys', 'Parked fifo keys and stalled subscription lanes', (s) => s.parkedLanes + s.stalledLanes);
  new Gauge({
    name: 'offload_breaker_open',
    help: 'Circuit breaker per endpoint origin: 0 closed, 0.5 half-open, 1 open',
    labelNames: ['origin'],
    registers: [registry],
    collect() {
      this.reset();
      for (const b of breakers()) this.set({ origin: b.origin }, b.state === 'open' ? 1 : b.state === 'half-open' ? 0.5 : 0);
    },
  });
  // Label lookups hash their labels on every call; deliveries are hot, so children are cached.
  const counters = new Map<string, ReturnType<typeof deliveries.labels>>();
  const timers = new Map<string, ReturnType<typeof duration.labels>>();
  const latencies = new Map<string, ReturnType<typeof latency.labels>>();
  const sentBy = new Map<string, ReturnType<typeof sent.labels>>();
  const cached = <T>(map: Map<string, T>, key: string, make: () => T): T => {
    let child = map.get(key);
    if (!child) map.set(key, (child = make()));
    return child;
  };
  return {
    registry,
    record(event) {
      cached(counters, `${event.target}\u0000${event.type}`, () => deliveries.labels(event.target, event.type)).inc(event.ids.length);
      // An attempt that failed after which the message expired before its retry: dead-lettered as expired.
      if (event.type === 'deadlettered' && event.reason === EXPIRED_REASON) expired.labels(event.target).inc(event.ids.length);
      cached(timers, event.target, () => duration.labels(event.target)).observe(event.durationMs / 1000);
      if (event.latenciesMs) {
        const child = cached(latencies, event.target, () => latency.labels(event.target));
        for (const ms of event.latenciesMs) child.observe(ms / 1000);
      }
    },
    sent(channel, count) {
      cached(sentBy, channel, () => sent.labels(channel)).inc(count);
    },
    expired(target, count) {
      expired.labels(target).inc(count);
    },
  };
}
