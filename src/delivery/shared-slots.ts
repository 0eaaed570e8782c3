import type { Clock } from '../domain/clock.js';
import type { Scheduler } from '../domain/scheduler.js';
import type { SlotHolding, SlotShare, Store } from '../storage/port.js';

/**
 * One endpoint's concurrency slots as this instance sees them. Slots are held in the store
 * (shared by every instance, so an endpoint's `maxConcurrency` holds across all of them) and used
 * here by calls. A call that ends leaves its slot spare for a moment: a call of this instance that
 * starts meanwhile takes it without a round trip; otherwise it goes back to the store with every
 * other spare slot in one write.
 *
 * Fairness: a take that gets fewer slots than asked records the rest as wanted. While it holds
 * slots, an instance checks in with the store every `checkInMs` (renewing its holds in the same
 * write); when other instances wait, it keeps at most its share (the limit over the instances
 * holding or wanting slots, rounded up) and lets the slots above it go back as its calls end,
 * instead of handing them to its own next calls.
 */
export interface SlotPool {
  /** Slots in use by this instance's calls. */
  readonly used: number;
  /** Slots this instance holds in the store (in use, or spare until the next release). */
  readonly held: number;
  /** Slots every instance held at this instance's latest take; null before the first. */
  readonly total: number | null;
  /** After a take found every slot held (or this instance at its share): the store is not asked again before this time. */
  readonly retryAt: number;
  /** The most this instance keeps while other instances wait for slots; Infinity while none waits. */
  readonly share: number;
  /**
   * Slots for up to `count` more calls while at most `limit` are held across instances: spare
   * ones first, then from the store (unless it was found full less than a poll ago).
   */
  take(count: number, limit: number): Promise<number>;
  /** Slots no longer in use: calls ended, or slots taken and not used. */
  put(count: number): void;
}

export interface SharedSlots {
  pool(endpoint: string): SlotPool | undefined;
  /** Stops renewing and releases every slot held (shutdown). */
  close(): Promise<void>;
}

export interface SharedSlotsOptions {
  store: Store;
  clock: Clock;
  scheduler: Scheduler;
  /** This instance: the owner of its holds. */
  owner: string;
  endpoints: readonly string[];
  /** A hold not renewed for this long is freed (a crashed instance's slots). Renewed every third of it. */
  ttlMs: number;
  /** How long spare slots wait for a call of this instance before they are released. Default 5 ms. */
  releaseDelayMs?: number;
  /** How soon a target that found every slot held elsewhere asks the store again. Default 25 ms. */
  pollMs?: number;
  /** While holding slots: how often to renew them and learn whether others wait. Default 100 ms (at most a third of `ttlMs`). */
  checkInMs?: number;
  onError: (error: unknown) => void;
}

interface PoolState {
  key: string;
  used: number;
  held: number;
  total: number | null;
  retryAt: number;
  share: number;
  limit: number;
  /** Slots the latest take here fell short by (0 once a take got all it asked for), and what the store has. */
  wanted: number;
  storedWanted: number;
}

export function createSharedSlots(options: SharedSlotsOptions): SharedSlots {
  const { store, clock, scheduler, owner, ttlMs } = options;
  const releaseDelayMs = options.releaseDelayMs ?? 5;
  const pollMs = options.pollMs ?? 25;
  const checkInMs = Math.max(10, Math.min(options.checkInMs ?? 100, Math.floor(ttlMs / 3)));
  const states = new Map(
    options.endpoints.map((endpoint): [string, PoolState] => [endpoint, { key: `endpoint:${endpoint}`, used: 0, held: 0, total: null, retryAt: 0, share: Infinity, limit: 0, wanted: 0, storedWanted: 0 }]),
  );
  const pools = new Map([...states].map(([endpoint, state]) => [endpoint, poolOf(state)]));
  // Every store call of this instance's slots runs after the previous one: each states what is
  // held as of its start, so a later write never restates an older count.
  let chain: Promise<unknown> = Promise.resolve();
  let releaseTimer: (() => void) | null = null;
  let closed = false;
  const stopRenewing = states.size > 0 ? scheduler.interval(() => void sync(true), checkInMs) : () => undefined;

  function learn(s: PoolState, share: SlotShare): void {
    s.total = share.total;
    s.share = share.waiting > 0 ? Math.max(1, Math.ceil(s.limit / Math.max(1, share.owners))) : Infinity;
  }

  function serial<T>(work: () => Promise<T>): Promise<T> {
    const result = chain.then(work);
    chain = result.catch(() => undefined);
    return result;
  }

  /** Releases spare slots; with `renew`, also restates every hold and extends it. One write. */
  function sync(renew: boolean): Promise<void> {
    return serial(async () => {
      const holdings: SlotHolding[] = [];
      const written: PoolState[] = [];
      for (const s of states.values()) {
        const keep = closed ? 0 : s.used;
        if (keep < s.held || (renew && (s.held > 0 || s.wanted !== s.storedWanted))) {
          holdings.push({ key: s.key, held: keep, wanted: closed ? 0 : s.wanted });
          written.push(s);
          s.storedWanted = s.wanted;
        }
        s.held = Math.min(s.held, keep);
      }
      if (holdings.length === 0) return;
      try {
        const shares = await store.holdConcurrencySlots(owner, holdings, ttlMs);
        written.forEach((s, i) => learn(s, shares[i]!));
      } catch (error) {
        // The store keeps the older, higher count until the next renewal restates it: others wait a little longer.
        options.onError(error);
      }
    });
  }

  function releaseSoon(): void {
    if (releaseTimer || closed) return;
    releaseTimer = scheduler.timeout(() => {
      releaseTimer = null;
      void sync(false);
    }, releaseDelayMs);
  }

  function poolOf(s: PoolState): SlotPool {
    return {
      get used() {
        return s.used;
      },
      get held() {
        return s.held;
      },
      get total() {
        return s.total;
      },
      get retryAt() {
        return s.retryAt;
      },
      get share() {
        return s.share;
      },
      async take(count, limit) {
        s.limit = limit;
        const allowed = Math.max(0, Math.min(count, s.share - s.used));
        const local = Math.min(allowed, Math.max(0, s.held - s.used));
        s.used += local;
        if (local === count) s.wanted = 0;
        if (local === count || closed || clock.now() < s.retryAt) return local;
        const rest = allowed - local;
        if (rest <= 0) {
          // At its share while others wait: ask again after a poll (a check-in may lift the share).
          s.retryAt = clock.now() + pollMs;
          return local;
        }
        let granted: number;
        try {
          granted = await serial(async () => {
            const taken = await store.takeConcurrencySlots({ key: s.key, owner, held: s.held, count: rest, limit, ttlMs });
            s.held += taken.granted;
            s.wanted = s.storedWanted = rest - taken.granted;
            learn(s, taken);
            return taken.granted;
          });
        } catch (error) {
          s.used -= local;
          throw error;
        }
        s.used += granted;
        if (granted < rest) s.retryAt = clock.now() + pollMs;
        return local + granted;
      },
      put(count) {
        if (count <= 0) return;
        s.used = Math.max(0, s.used - count);
        releaseSoon();
      },
    };
  }

  return {
    pool: (endpoint) => pools.get(endpoint),
    async close() {
      closed = true;
      stopRenewing();
      releaseTimer?.();
      releaseTimer = null;
      await sync(false);
    },
  };
}
