import { createAdaptiveLimit, type AdaptiveLimit } from '../domain/adaptive-limit.js';
import type { Target } from '../domain/channel.js';
import type { Clock } from '../domain/clock.js';
import { systemScheduler, type Scheduler } from '../domain/scheduler.js';
import type { AttemptResult } from '../domain/outcome.js';
import { parseRetryAfter } from '../domain/retry-policy.js';
import { createLocalRateBucket, type EndpointLimits, type LocalRateBucket, type RateLimit } from '../domain/rate-limit.js';
import type { Store } from '../storage/port.js';
import type { DeliveryLimiter } from './dispatcher.js';
import { createSharedSlots, type SlotPool } from './shared-slots.js';

/** What an operator sees of one endpoint's flow control (`GET /v1/endpoints`, metrics, dashboard). */
export interface EndpointLimitView {
  endpoint: string;
  rateLimit: RateLimit | null;
  maxConcurrency: number | null;
  adaptive: boolean;
  /** The rate in force now (lower than configured after an adaptive cut); null: not limited. */
  currentRate: number | null;
  /** The concurrency in force now; null: not limited. */
  currentConcurrency: number | null;
  /** Calls in flight from this instance. */
  inFlight: number;
  /**
   * With `maxConcurrency`: slots held by every instance at this instance's latest take (calls in
   * flight across instances); null without `maxConcurrency` or before the first take.
   */
  inFlightTotal: number | null;
  /** Targets (queues, subscriptions) held back by this endpoint's limits right now. */
  waitingTargets: string[];
  /** 429/503 answers seen since start. */
  throttledTotal: number;
  /** Times a target had to wait for a permit since start. */
  waitsTotal: number;
  /** Adaptive cuts since start. */
  cuts: number;
  /** While an adaptive endpoint's Retry-After holds every call back: until when. */
  heldUntil: number | null;
}

export interface EndpointLimiter extends DeliveryLimiter {
  views(): EndpointLimitView[];
  /** Stops renewing this instance's concurrency slots and releases them (after the dispatcher stopped). */
  close(): Promise<void>;
}

interface Entry {
  endpoint: string;
  settings: EndpointLimits;
  adaptive: AdaptiveLimit | null;
  /** Adaptive limits of an endpoint without a shared rate keep their bucket here. */
  local: LocalRateBucket;
  inFlight: number;
  /** With `maxConcurrency`: the endpoint's slots shared with every instance on the store. */
  pool: SlotPool | null;
  /** Held back for a free slot (woken when a call finishes) or for the rate (they schedule their own retry). */
  waitingSlot: Set<string>;
  waitingRate: Set<string>;
  /** Start times of calls the endpoint accepted in the last second (adaptive cuts start from their rate). */
  accepted: number[];
  /**
   * Calls let through in the last second (when, how many): a 429 answered at once can arrive
   * while that second's successes are still in flight, which then count as accepted too.
   */
  granted: Array<{ at: number; n: number }>;
  /** Per target: the bucket state its latest take left, so unused permits can be given back. */
  lastTake: Map<string, { token: number; limit: RateLimit }>;
  /**
   * Per target: how many permits its latest claim used. The next take asks for at most twice that
   * (at least one): a give-back fails once another take came in between, so permits asked for
   * but not used are often lost to the bucket; asking for what is likely to be used keeps the
   * endpoint's rate available to the targets that have work.
   */
  lastUsed: Map<string, number>;
  throttledTotal: number;
  waitsTotal: number;
  heldUntil: number;
}

/**
 * Permits are paced at 95% of the configured rate: between a permit and the call reaching the
 * endpoint lie a claim, a busy event loop and a network hop whose delays vary, which can bunch
 * calls together. The 5% absorbs up to 250 ms of such jitter, so the endpoint itself sees the
 * bound over 5-second windows (at 97%, a loaded 2-core host bunched calls past it).
 */
const PACING = 0.95;

/** The longest an adaptive endpoint's Retry-After holds every call back. */
const MAX_HOLD_MS = 60_000;

/**
 * Flow control per endpoint, in front of the dispatcher's claims: a permit is taken before a
 * delivery is claimed, so waiting never counts an attempt and never touches an ordered lane.
 * The rate limit is a bucket in the store shared by every instance; so is `maxConcurrency`, as
 * slots each instance holds in the store (src/delivery/shared-slots.ts). Adaptive limits (AIMD)
 * are kept per instance: a cut lowers this instance's calls in flight, and the limit its takes of
 * shared slots are checked against, and only ever lowers the shared rate. Without
 * `maxConcurrency`, an adaptive concurrency is counted here alone, without the store.
 */
export function createEndpointLimiter(options: {
  store: Store;
  clock: Clock;
  targets: readonly Target[];
  limits: ReadonlyMap<string, EndpointLimits>;
  /** Targets that were held back may try again (a call finished, a slot is free). */
  onAvailable: (targets: string[]) => void;
  onCut?: (endpoint: string, view: EndpointLimitView) => void;
  /** This instance, the owner of its concurrency slots in the store. */
  owner: string;
  scheduler?: Scheduler;
  onError?: (error: unknown) => void;
}): EndpointLimiter {
  const { store, clock } = options;
  const entries = new Map<string, Entry>();
  const shared = [...options.limits].filter(([, l]) => l.maxConcurrency !== null).map(([endpoint]) => endpoint);
  const leases = options.targets.filter((t) => shared.includes(t.endpoint)).map((t) => t.lockDurationMs);
  const sharedSlots = createSharedSlots({
    store,
    clock,
    scheduler: options.scheduler ?? systemScheduler,
    owner: options.owner,
    endpoints: shared,
    // A crashed instance's slots free themselves when its leases would: its calls ended with it.
    ttlMs: leases.length > 0 ? Math.min(...leases) : 30_000,
    onError: options.onError ?? (() => undefined),
  });
  for (const [endpoint, settings] of options.limits) {
    if (!settings.rateLimit && settings.maxConcurrency === null && !settings.adaptive) continue;
    entries.set(endpoint, {
      endpoint,
      settings,
      adaptive: settings.adaptive ? createAdaptiveLimit({ maxRate: settings.rateLimit?.perSecond ?? null, maxConcurrency: settings.maxConcurrency }) : null,
      local: createLocalRateBucket(),
      inFlight: 0,
      pool: sharedSlots.pool(endpoint) ?? null,
      waitingSlot: new Set(),
      waitingRate: new Set(),
      accepted: [],
      granted: [],
      lastTake: new Map(),
      lastUsed: new Map(),
      throttledTotal: 0,
      waitsTotal: 0,
      heldUntil: 0,
    });
  }
  const entryOf = (target: Target) => entries.get(target.endpoint);

  function currentRate(e: Entry): number | null {
    return e.adaptive?.state().rate ?? e.settings.rateLimit?.perSecond ?? null;
  }
  function currentConcurrency(e: Entry): number | null {
    return e.adaptive?.state().concurrency ?? e.settings.maxConcurrency;
  }
  /** The bucket for the rate in force: an adaptive cut scales the burst down with the rate. */
  function bucketFor(e: Entry, rate: number): RateLimit {
    const configured = e.settings.rateLimit;
    if (!configured) return { perSecond: rate * PACING, burst: 1 };
    if (rate >= configured.perSecond) return { perSecond: configured.perSecond * PACING, burst: configured.burst };
    return { perSecond: rate * PACING, burst: Math.max(1, Math.floor((configured.burst * rate) / configured.perSecond)) };
  }
  function acceptedRate(e: Entry, now: number): number {
    while (e.accepted.length > 0 && e.accepted[0]! <= now - 1_000) e.accepted.shift();
    return e.accepted.length;
  }
  /** Calls let through in the last second. */
  function grantedRate(e: Entry, now: number): number {
    while (e.granted.length > 0 && e.granted[0]!.at <= now - 1_000) e.granted.shift();
    return e.granted.reduce((sum, g) => sum + g.n, 0);
  }
  /**
   * What the endpoint took over the last second when it refused a call: the calls it answered
   * 2xx, and those of the second still in flight (not refused; a fast 429 overtakes them).
   */
  function takenRate(e: Entry, now: number): number {
    const accepted = acceptedRate(e, now);
    return accepted + Math.min(e.inFlight, Math.max(0, grantedRate(e, now) - accepted - 1));
  }
  function wait(e: Entry, target: Target, reason: 'slot' | 'rate'): void {
    if (!e.waitingSlot.has(target.name) && !e.waitingRate.has(target.name)) e.waitsTotal++;
    (reason === 'slot' ? e.waitingRate : e.waitingSlot).delete(target.name);
    (reason === 'slot' ? e.waitingSlot : e.waitingRate).add(target.name);
  }
  function done(e: Entry, target: Target): void {
    e.waitingSlot.delete(target.name);
    e.waitingRate.delete(target.name);
  }
  function wakeSlotWaiters(e: Entry): void {
    if (e.waitingSlot.size > 0) options.onAvailable([...e.waitingSlot]);
  }

  function view(e: Entry): EndpointLimitView {
    return {
      endpoint: e.endpoint,
      rateLimit: e.settings.rateLimit,
      maxConcurrency: e.settings.maxConcurrency,
      adaptive: e.settings.adaptive,
      currentRate: currentRate(e),
      currentConcurrency: currentConcurrency(e),
      inFlight: e.inFlight,
      inFlightTotal: e.pool?.total ?? null,
      waitingTargets: [...new Set([...e.waitingSlot, ...e.waitingRate])],
      throttledTotal: e.throttledTotal,
      waitsTotal: e.waitsTotal,
      cuts: e.adaptive?.state().cuts ?? 0,
      heldUntil: e.heldUntil > clock.now() ? e.heldUntil : null,
    };
  }

  return {
    governs: (target) => entries.has(target.endpoint),
    async acquire(target, wanted) {
      const e = entryOf(target);
      if (!e || wanted <= 0) return { granted: wanted, retryAt: null };
      const now = clock.now();
      if (e.heldUntil > now) {
        wait(e, target, 'rate');
        return { granted: 0, retryAt: e.heldUntil };
      }
      const concurrency = currentConcurrency(e);
      const likely = e.settings.rateLimit ? Math.max(1, 2 * (e.lastUsed.get(target.name) ?? wanted)) : wanted;
      const asked = Math.min(wanted, likely);
      const room = concurrency === null ? asked : Math.min(asked, concurrency - e.inFlight);
      if (room <= 0) {
        // A finishing call wakes the target (onAvailable).
        wait(e, target, 'slot');
        return { granted: 0, retryAt: null };
      }
      // Slots are reserved before the store is asked, so two targets of one endpoint never both take the last one.
      e.inFlight += room;
      let slots = room;
      if (e.pool) {
        try {
          slots = await e.pool.take(room, concurrency!);
        } catch (error) {
          e.inFlight -= room;
          throw error;
        }
        e.inFlight -= room - slots;
        if (slots === 0) {
          // Every slot is held, by other instances too: ask the store again after a poll, or when a call of this instance ends.
          wait(e, target, 'slot');
          return { granted: 0, retryAt: Math.max(e.pool.retryAt, clock.now() + 1) };
        }
      }
      let granted = slots;
      let waitMs = 0;
      const rate = currentRate(e);
      if (rate !== null) {
        try {
          const limit = bucketFor(e, rate);
          const taken = e.settings.rateLimit ? await store.takeRatePermits(`endpoint:${e.endpoint}`, limit, slots) : e.local.take(now, limit, slots);
          granted = taken.granted;
          waitMs = taken.waitMs;
          e.lastTake.set(target.name, { token: 'token' in taken ? taken.token : taken.tat, limit });
        } catch (error) {
          e.inFlight -= slots;
          e.pool?.put(slots);
          throw error;
        }
      }
      e.inFlight -= slots - granted;
      e.pool?.put(slots - granted);
      if (e.adaptive && granted > 0) {
        e.granted.push({ at: now, n: granted });
        grantedRate(e, now);
      }
      e.lastUsed.set(target.name, granted);
      if (granted < slots) wait(e, target, 'rate');
      else if (slots < asked) wait(e, target, 'slot');
      else done(e, target);
      let retryAt: number | null = null;
      if (granted < slots) retryAt = clock.now() + Math.max(1, waitMs);
      // Fewer shared slots than room here: others hold them; ask the store again after a poll.
      else if (slots < room) retryAt = Math.max(e.pool!.retryAt, clock.now() + 1);
      // Asked for fewer than wanted on a guess: when all were used, ask again at once.
      else if (slots === asked && asked < wanted) retryAt = clock.now();
      return { granted, retryAt };
    },
    giveBack(target, count) {
      const e = entryOf(target);
      if (!e || count <= 0) return;
      e.inFlight -= count;
      e.pool?.put(count);
      e.lastUsed.set(target.name, Math.max(0, (e.lastUsed.get(target.name) ?? count) - count));
      // Fewer deliveries were ready than permits: the target is not waiting, it is drained.
      done(e, target);
      const taken = e.lastTake.get(target.name);
      e.lastTake.delete(target.name);
      if (taken) {
        if (e.settings.rateLimit) void store.returnRatePermits(`endpoint:${e.endpoint}`, taken.limit, count, taken.token).catch(() => false);
        else e.local.giveBack(taken.limit, count, taken.token);
      }
      wakeSlotWaiters(e);
    },
    finished(target, call) {
      const e = entryOf(target);
      if (!e) return;
      e.inFlight--;
      e.pool?.put(1);
      const now = clock.now();
      const result: AttemptResult | null = call.result;
      const status = result?.kind === 'response' ? result.statusCode : null;
      if (status === 429 || status === 503) {
        e.throttledTotal++;
        if (e.adaptive) {
          const cut = e.adaptive.throttled(now, { startedAt: call.startedAt, acceptedRate: takenRate(e, now), inFlight: e.inFlight + 1 });
          const retryAfterMs = result?.kind === 'response' ? parseRetryAfter(result.retryAfter, now) : undefined;
          if (retryAfterMs !== undefined) e.heldUntil = Math.max(e.heldUntil, now + Math.min(retryAfterMs, MAX_HOLD_MS));
          if (cut) options.onCut?.(e.endpoint, view(e));
        }
      } else if (status !== null && status >= 200 && status < 300 && e.adaptive) {
        e.accepted.push(call.startedAt);
        acceptedRate(e, now);
        e.adaptive.succeeded(now);
      }
      wakeSlotWaiters(e);
    },
    views: () => [...entries.values()].map(view),
    close: () => sharedSlots.close(),
  };
}
