import { Counter, Gauge, type Registry } from 'prom-client';
import type { EndpointLimitView } from '../delivery/endpoint-limits.js';
import type { ChannelPressure } from './backpressure.js';

/** Prometheus metrics of flow control, read from the live views when scraped. */
export function registerFlowMetrics(registry: Registry, sources: { endpoints: () => EndpointLimitView[]; channels: () => ChannelPressure[] }): void {
  const endpointGauge = (name: string, help: string, pick: (v: EndpointLimitView) => number | null) =>
    new Gauge({
      name,
      help,
      labelNames: ['endpoint'],
      registers: [registry],
      collect() {
        this.reset();
        for (const v of sources.endpoints()) {
          const value = pick(v);
          if (value !== null) this.set({ endpoint: v.endpoint }, value);
        }
      },
    });
  endpointGauge('offload_endpoint_rate_limit', 'Calls per second allowed to the endpoint now (after adaptive cuts)', (v) => v.currentRate);
  endpointGauge('offload_endpoint_concurrency_limit', 'Calls in flight allowed to the endpoint now: maxConcurrency, across instances (after an adaptive cut, what this instance applies)', (v) => v.currentConcurrency);
  endpointGauge('offload_endpoint_in_flight', 'Calls in flight to the endpoint from this instance', (v) => v.inFlight);
  endpointGauge('offload_endpoint_in_flight_all_instances', 'With maxConcurrency: concurrency slots held by every instance on the store, as this instance last saw them (at most 100 ms old while it holds slots)', (v) => v.inFlightTotal);
  endpointGauge('offload_endpoint_waiting_targets', 'Queues and subscriptions held back by the endpoint limits', (v) => v.waitingTargets.length);
  const endpointCounter = (name: string, help: string, pick: (v: EndpointLimitView) => number) =>
    new Counter({
      name,
      help,
      labelNames: ['endpoint'],
      registers: [registry],
      collect() {
        // The views keep the totals; the counter reports them as they are.
        this.reset();
        for (const v of sources.endpoints()) this.inc({ endpoint: v.endpoint }, pick(v));
      },
    });
  endpointCounter('offload_endpoint_throttled_total', '429 and 503 answers from the endpoint', (v) => v.throttledTotal);
  endpointCounter('offload_endpoint_limit_cuts_total', 'Adaptive cuts of the endpoint limits', (v) => v.cuts);
  endpointCounter('offload_endpoint_waits_total', 'Times a queue or subscription started waiting for the endpoint limits', (v) => v.waitsTotal);
  new Counter({
    name: 'offload_producer_throttled_total',
    help: 'Sends refused with 429 because the channel was at or over maxDepth/maxOldestAge',
    labelNames: ['channel'],
    registers: [registry],
    collect() {
      this.reset();
      for (const c of sources.channels()) this.inc({ channel: c.channel }, c.refusedTotal);
    },
  });
  new Gauge({
    name: 'offload_channel_throttled',
    help: '1 while the channel refuses sends (backlog at or over its limit), else 0',
    labelNames: ['channel'],
    registers: [registry],
    collect() {
      this.reset();
      for (const c of sources.channels()) this.set({ channel: c.channel }, c.throttled ? 1 : 0);
    },
  });
}
