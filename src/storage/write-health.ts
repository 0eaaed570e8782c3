import { StoreUnavailableError } from '../domain/errors.js';
import type { Store } from './port.js';

/** Port methods that write (a failure of one of them means the store may not accept writes). */
const WRITES: ReadonlySet<string> = new Set([
  'declare', 'send', 'claim', 'claimOrLookAhead', 'renew', 'settle', 'settleAndClaim', 'release', 'defer', 'expireDeferred',
  'redrive', 'purgeDeadLetters', 'setPaused', 'retryLane', 'skipLaneHead', 'redeliverSkipped', 'hurryRetries', 'sweep', 'seek',
  'expire', 'saveBreaker', 'probeWrite', 'advanceSchedule', 'setSchedulePaused', 'takeRatePermits', 'returnRatePermits',
  'takeConcurrencySlots', 'holdConcurrencySlots',
]);

export interface WriteHealth {
  /** True from a failed write until a write probe succeeds. */
  failing(): boolean;
  /** Why the last write failed, while failing. */
  reason(): string | null;
}

export interface TrackedStore<S extends Store> {
  store: S;
  health: WriteHealth;
  /** Stops probing. */
  close(): void;
}

/**
 * Watches the store's writes. A write that fails because of the store (disk full, I/O error,
 * read-only, locked, unreachable) marks writes as failing, whoever made it (a producer's send,
 * the dispatcher, a sweep); from then on a write that changes nothing is tried every
 * `probeEveryMs` until one succeeds. Readiness reads `failing()`, so it stays false exactly as
 * long as the store would refuse a write, whether or not anything else is writing.
 */
export function trackWrites<S extends Store>(store: S, options: { probeEveryMs?: number; onChange?: (failing: boolean, reason: string | null) => void } = {}): TrackedStore<S> {
  const probeEveryMs = options.probeEveryMs ?? 1_000;
  let failure: string | null = null;
  let probe: NodeJS.Timeout | undefined;
  let closed = false;

  const recovered = () => {
    if (failure === null) return;
    failure = null;
    if (probe) clearInterval(probe);
    probe = undefined;
    options.onChange?.(false, null);
  };
  const failed = (error: unknown) => {
    if (!(error instanceof StoreUnavailableError)) return;
    const first = failure === null;
    failure = error.message;
    if (first) options.onChange?.(true, failure);
    if (!probe && !closed) {
      probe = setInterval(() => {
        store.probeWrite().then(recovered, (e: unknown) => failed(e));
      }, probeEveryMs);
      probe.unref();
    }
  };

  const wrapped = new Proxy(store, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver) as unknown;
      if (typeof property !== 'string' || !WRITES.has(property) || typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        let result: Promise<unknown>;
        try {
          result = (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        } catch (error) {
          failed(error);
          throw error;
        }
        // A successful probe is the proof that writes work again; other successes may have written nothing.
        return result.then(
          (v) => {
            if (property === 'probeWrite') recovered();
            return v;
          },
          (error: unknown) => {
            failed(error);
            throw error;
          },
        );
      };
    },
  });

  return {
    store: wrapped,
    health: { failing: () => failure !== null, reason: () => failure },
    close() {
      closed = true;
      if (probe) clearInterval(probe);
      probe = undefined;
    },
  };
}
