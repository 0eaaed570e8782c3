import type { OffloadConfig } from '../config/load.js';
import type { Completer } from '../delivery/completer.js';
import type { DrainRequest, DrainResult } from '../delivery/drain.js';
import type { Store, TargetStats } from '../storage/port.js';
import type { Rates } from '../telemetry/rates.js';
import type { Tracing } from '../telemetry/tracing.js';
import type { EndpointLimitView } from '../delivery/endpoint-limits.js';
import type { Backpressure } from './backpressure.js';
import type { EventHub } from './event-hub.js';

/** What the HTTP routes need from the running service. */
export interface ServerContext {
  config: OffloadConfig;
  store: Store;
  /** Tells the dispatcher that new work may be claimable on these targets. */
  wake(targets: readonly string[]): void;
  events: EventHub;
  /** Store reachable and dispatcher running. */
  ready(): boolean;
  /** Whether the store refuses writes (from a failed write until a write succeeds again). */
  writes?(): { failing: boolean; reason: string | null };
  now(): number;
  /** Shared, briefly cached stats (see stats-cache.ts); the store's own when absent. */
  stats?(): Promise<TargetStats[]>;
  /** Called after a request that changed state, so cached stats are not served stale to its sender. */
  changed?(): void;
  /** Present only when the configuration enables drain (testing.drain). */
  drain?(request: DrainRequest): Promise<DrainResult>;
  /** In-memory delivery rates for the charts and the channel listing. */
  rates?: Pick<Rates, 'series' | 'recent'>;
  /** OpenTelemetry tracing, when configured. */
  tracing?: Pick<Tracing, 'startSend'>;
  /** Circuit breaker states per endpoint origin, for the channel listing. */
  breakers?(): Array<{ origin: string; endpoints: string[]; state: string; openUntil: number | null; since: number | null }>;
  /** Flow control per endpoint (rate, concurrency, adaptive), as this instance sees it. */
  endpointLimits?(): EndpointLimitView[];
  /** Asynchronous acknowledgement: settles the attempt a completion token names (see src/delivery/completer.ts). */
  complete?: Completer['complete'];
  /** Refuses sends to channels over their maxDepth/maxOldestAge; absent: nothing is refused. */
  backpressure?: Backpressure;
}
