import { createCircuitBreaker, type BreakerPolicy, type BreakerState, type BreakerTransition, type CircuitBreaker } from '../domain/breaker.js';
import type { Target } from '../domain/channel.js';
import type { Clock } from '../domain/clock.js';
import type { Store } from '../storage/port.js';
import type { DeliveryGate } from './dispatcher.js';

export interface BreakerView {
  origin: string;
  endpoints: string[];
  state: BreakerState;
  openUntil: number | null;
  since: number | null;
}

export interface BreakerGate extends DeliveryGate {
  /** Reads the states other instances shared through the store. */
  sync(): Promise<void>;
  views(): BreakerView[];
}

/**
 * One circuit breaker per endpoint origin, shared by every instance through the store: a local
 * transition is saved, and `sync()` adopts what other instances saved.
 */
export function createBreakerGate(options: {
  store: Store;
  clock: Clock;
  targets: readonly Target[];
  policyFor: (endpoint: string) => BreakerPolicy | null;
  onTransition?: (origin: string, transition: BreakerTransition) => void;
  onError?: (error: unknown) => void;
}): BreakerGate {
  const { store, clock } = options;
  const breakers = new Map<string, { breaker: CircuitBreaker; endpoints: Set<string> }>();
  const originOf = new Map<string, string>();
  for (const target of options.targets) {
    const policy = options.policyFor(target.endpoint);
    if (!policy) continue;
    const origin = new URL(target.url).origin;
    originOf.set(target.name, origin);
    const entry = breakers.get(origin) ?? { breaker: createCircuitBreaker(policy), endpoints: new Set<string>() };
    entry.endpoints.add(target.endpoint);
    breakers.set(origin, entry);
  }
  const entries = new Map<string, { origin: string; breaker: CircuitBreaker }>();
  for (const [name, origin] of originOf) entries.set(name, { origin, breaker: breakers.get(origin)!.breaker });
  const entryOf = (target: Target) => entries.get(target.name);

  function announce(origin: string, breaker: CircuitBreaker, transition: BreakerTransition | null, share: boolean): void {
    if (!transition) return;
    options.onTransition?.(origin, transition);
    if (!share || transition.to === 'half-open') return;
    const record = { origin, state: transition.to, openUntil: breaker.openUntil(), reason: transition.reason, updatedAt: clock.now() } as const;
    store.saveBreaker(record).catch((error: unknown) => options.onError?.(error));
  }

  return {
    permits(target) {
      const entry = entryOf(target);
      return entry ? entry.breaker.permits(clock.now(), target.name) : Number.POSITIVE_INFINITY;
    },
    started(target, count) {
      entryOf(target)?.breaker.started(count, clock.now(), target.name);
    },
    record(target, outcome) {
      const entry = entryOf(target);
      if (!entry) return;
      const now = clock.now();
      const { breaker } = entry;
      // Nothing reached the endpoint: not counted, and a probe may go again.
      if (outcome === 'untested') breaker.release(now);
      // The endpoint answered: a probe that gets a 4xx shows it is up again; otherwise not counted.
      else if (outcome === 'neutral') announce(entry.origin, breaker, breaker.state(now) === 'half-open' ? breaker.record(true, now, target.name) : null, true);
      else announce(entry.origin, breaker, breaker.record(outcome === 'success', now, target.name), true);
    },
    reopensAt(target) {
      return entryOf(target)?.breaker.openUntil(target.name) ?? null;
    },
    async sync() {
      const now = clock.now();
      for (const record of await store.listBreakers()) {
        const entry = breakers.get(record.origin);
        if (entry) announce(record.origin, entry.breaker, entry.breaker.adopt(record.state, record.openUntil, now), false);
      }
    },
    views() {
      const now = clock.now();
      return [...breakers].map(([origin, { breaker, endpoints }]) => ({ origin, endpoints: [...endpoints], state: breaker.state(now), openUntil: breaker.openUntil(), since: breaker.since() }));
    },
  };
}
