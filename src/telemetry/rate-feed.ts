import type { Target } from '../domain/channel.js';
import type { Clock } from '../domain/clock.js';
import type { DeliveryEvent } from '../delivery/dispatcher.js';
import type { TargetStats } from '../storage/port.js';
import type { Rates, TargetSample } from './rates.js';

export interface RateFeedOptions {
  rates: Rates;
  /** The store's stats (the shared, briefly cached read). */
  stats: () => Promise<TargetStats[]>;
  targets: readonly Target[];
  /** Breaker state per endpoint name. */
  breakers: () => ReadonlyArray<{ endpoints: readonly string[]; state: string }>;
  clock: Clock;
  /** How often depth, age and breaker states are sampled. Default 5 s (one chart step). */
  intervalMs?: number;
  onError?: (error: unknown) => void;
}

export interface RateFeed {
  /** Counts a delivery event (fenced ones change nothing and are not counted). */
  onEvent(event: DeliveryEvent): void;
  /** Reads the store's stats once into the current bucket. */
  sample(): Promise<void>;
  start(): void;
  /** Stops sampling and waits for a sample still reading. */
  stop(): Promise<void>;
}

/** Feeds the in-memory rates: counts from the dispatcher's events, gauges from a periodic stats sample. */
export function createRateFeed(options: RateFeedOptions): RateFeed {
  const { rates, clock } = options;
  const endpointOf = new Map(options.targets.map((t) => [t.name, t.endpoint]));
  let timer: NodeJS.Timeout | undefined;
  let sampling: Promise<void> | null = null;

  async function sampleNow(): Promise<void> {
    const states = new Map<string, TargetSample['breaker']>();
    for (const b of options.breakers()) for (const e of b.endpoints) states.set(e, b.state as TargetSample['breaker']);
    const stats = await options.stats();
    const samples = stats
      .filter((s) => s.kind !== 'topic')
      .map((s) => {
        const endpoint = endpointOf.get(s.name);
        return { target: s.name, depth: s.depth, inFlight: s.inFlight, oldestAgeMs: s.oldestAgeMs, breaker: endpoint === undefined ? null : states.get(endpoint) ?? 'closed' };
      });
    rates.recordSample(samples, clock.now());
  }

  function sample(): Promise<void> {
    // Overlapping samples (a slow store) share one read.
    sampling ??= sampleNow().finally(() => {
      sampling = null;
    });
    return sampling;
  }

  return {
    onEvent(event) {
      // Neither says how the endpoint fared: a fenced call was decided by another attempt, a deferred one is not decided yet.
      if (event.type === 'fenced' || event.type === 'deferred') return;
      rates.recordOutcome(event.target, event.type === 'delivered', event.ids.length, clock.now(), event.latenciesMs);
    },
    sample,
    start() {
      const tick = () => void sample().catch((error: unknown) => options.onError?.(error));
      tick();
      timer = setInterval(tick, options.intervalMs ?? 5_000);
      timer.unref();
    },
    async stop() {
      if (timer) clearInterval(timer);
      await sampling?.catch(() => undefined);
    },
  };
}
