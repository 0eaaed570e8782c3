import type { Target } from '../domain/channel.js';
import type { Clock, Random } from '../domain/clock.js';
import { profileOf } from '../domain/profile.js';
import { createUnderWay } from '../domain/under-way.js';
import type { Scheduler } from '../domain/scheduler.js';
import type { Claim, ClaimRequest, SendLease, Settlement, SettleResult, Store } from '../storage/port.js';
import { expireDeferred } from './completion.js';
import type { DeliveryEvent, DeliveryGate, DeliveryLimiter } from './dispatcher.js';

/*
 * One target's share of the dispatcher: when to claim (wake-ups, timers, the look-ahead), how
 * many (its profile's calls in flight, the endpoint's gate and limits), and how a delivered
 * call hands its slot over to the next claim. The calls themselves are the dispatcher's.
 */

/** How a delivered call hands its slot over to the next claim (the profile's `handOver`). */
export interface Continuation {
  /** Settles a delivered call and claims in the same store step; resolves with the settlement's results. */
  handOver(settlements: Settlement[]): Promise<SettleResult[]>;
}

/** What a target worker shares with its dispatcher. */
export interface WorkerContext {
  store: Store;
  gate?: DeliveryGate;
  limiter?: DeliveryLimiter;
  onEvent?: (event: DeliveryEvent) => void;
  clock: Clock;
  scheduler: Scheduler;
  owner: string;
  random: Random;
  pollIntervalMs: number;
  onError: (error: unknown, context: string) => void;
  stopping(): boolean;
  /**
   * Makes the call and settles it; resolves true when it settled as delivered or dead-lettered.
   * `requestedAt`: when the claim was asked of the store, which leases from then or later.
   */
  deliver(target: Target, claim: Claim, continuation: Continuation, requestedAt: number): Promise<boolean>;
}

export interface TargetWorker {
  /** Something may be claimable now. */
  pump(): void;
  /** A send to this target is about to be stored: how many of its due deliveries to claim for this instance in the send's transaction (Store.handOffSends). */
  offer(): SendLease | null;
  /**
   * Claims no more; resolves once the store calls under way have ended (a claim, a look-ahead,
   * leases given back): what a claim under way takes then goes back untried.
   */
  stop(): Promise<void>;
  inFlight(): number;
}

export function createTargetWorker(target: Target, ctx: WorkerContext): TargetWorker {
  const { store, clock, scheduler, owner, random, pollIntervalMs, onError } = ctx;
  const { inFlight: limit, batchSize: callBatch, maxBatchWaitMs, prefetch, handOver, asyncTimeoutMs, ordering } = profileOf(target);
  // A claim takes a batch for one call, or a lane's messages ahead, sent one call each (not where endpoint limits count every claim).
  const batchSize = callBatch > 1 || ctx.limiter?.governs(target) ? callBatch : prefetch;
  const unordered = ordering === 'none';
  let inFlight = 0;
  // Deferrals whose deadline passed are looked for at most once per poll interval.
  let nextExpiryAt = 0;
  let claiming = false;
  let again = false;
  let cancelTimer: (() => void) | undefined;
  let pending = false;
  /**
   * Unordered targets: the last claim found fewer due deliveries than it asked for, and nothing
   * has woken the target since. A delivered or dead-lettered answer then makes nothing new due,
   * so its freed slot waits for the next wake-up (a send, an operation, the timer set from
   * nextWakeAt) instead of asking the store again: at a trickle, half the claims and look-aheads.
   */
  let drained = false;
  /** Wake-ups so far: a claim that came up short marks the target drained only if none came meanwhile. */
  let wakes = 0;
  /** Slots promised to sends under way (offer), until their transaction answers. */
  let offered = 0;
  /** Slots the claim under way of pump() may fill. */
  let claimingSlots = 0;
  /** This worker's own store calls under way (claims, look-aheads, leases given back, offers): stop() waits for them. */
  const underWay = createUnderWay();
  const track = (work: Promise<void>) => underWay.track(work);

  /** Many wake-ups in one turn of the event loop (a settled batch, a burst of sends) make one claim. */
  function request(): void {
    if (pending || ctx.stopping()) return;
    pending = true;
    scheduler.immediate(() => {
      pending = false;
      void track(pump());
    });
  }

  /** When the timer set by schedule() fires; null when none is set. */
  let timerAt: number | null = null;

  function schedule(at: number): void {
    if (ctx.stopping()) return;
    const delay = Math.max(0, Math.min(at - clock.now(), pollIntervalMs));
    cancelTimer?.();
    timerAt = clock.now() + delay;
    cancelTimer = scheduler.timeout(() => {
      timerAt = null;
      wakeUp();
    }, delay);
  }

  /**
   * A settling step's claim came up short and left the target drained: what is due later (a
   * retry, a delay, a lease running out) needs a timer, and a claim that filled every slot set
   * none (or one for later than that). One look-ahead then.
   */
  async function lookAheadWhenIdle(): Promise<void> {
    if (ctx.stopping()) return;
    try {
      wakeWhenIdle(await store.nextWakeAt(target.name));
    } catch (error) {
      onError(error, `looking ahead on ${target.name}`);
      if (timerAt === null) schedule(clock.now() + pollIntervalMs);
    }
  }

  /** The look-ahead's answer for a drained target: a timer for then (at the poll interval when nothing is due). */
  function wakeWhenIdle(next: number | null): void {
    const at = next ?? clock.now() + pollIntervalMs;
    if (drained && (timerAt === null || at < timerAt)) schedule(at);
  }

  /** Something may be claimable now. */
  function wakeUp(): void {
    wakes++;
    drained = false;
    request();
  }

  function start(claim: Claim, requestedAt: number): void {
    inFlight++;
    void ctx.deliver(target, claim, continuation, requestedAt).then((final) => {
      inFlight--;
      if (!(final && drained)) request();
    });
  }

  const next = (slots: number): ClaimRequest => ({ target: target.name, limit: slots, owner, leaseMs: target.lockDurationMs, batchSize, maxBatchWaitMs });
  /** A settling step's claim: an unordered target's also looks ahead when it comes up short (claimedInStep). */
  const nextInStep = (slots: number): ClaimRequest => (unordered ? { ...next(slots), lookAhead: true } : next(slots));

  /** Claims taken in a settling step: started, or given back when stopping. */
  async function carryOn(claims: Claim[], requestedAt: number): Promise<void> {
    if (ctx.stopping()) {
      await store.release(claims.flatMap((c) => c.deliveries));
      return;
    }
    ctx.gate?.started(target, claims.length);
    for (const claim of claims) start(claim, requestedAt);
  }

  /**
   * A claim of a step that came up short leaves an unordered target drained, unless woken
   * meanwhile; the step's own look-ahead then sets the timer (one more store call where it has none).
   */
  function claimedInStep(slots: number, step: { claims: Claim[]; nextWakeAt?: number | null }, wakesBefore: number): void {
    if (!(unordered && slots > 0 && step.claims.length < slots && wakes === wakesBefore)) return;
    drained = true;
    if (step.nextWakeAt !== undefined) wakeWhenIdle(step.nextWakeAt);
    else void track(lookAheadWhenIdle());
  }

  /** One claim in flight: settle and take the next at once (none while drained). */
  async function stepOver(settlements: Settlement[]): Promise<SettleResult[]> {
    const slots = unordered && drained ? 0 : 1;
    const wakesBefore = wakes;
    const requestedAt = clock.now();
    const step = await store.settleAndClaim(settlements, nextInStep(slots));
    claimedInStep(slots, step, wakesBefore);
    await carryOn(step.claims, requestedAt);
    return step.results;
  }

  /** Several in flight: the answers of one turn of the event loop share one step, which claims the slots they free. */
  let handing: Array<{ settlements: Settlement[]; resolve: (results: SettleResult[]) => void; reject: (error: unknown) => void }> = [];
  function batchOver(settlements: Settlement[]): Promise<SettleResult[]> {
    return new Promise((resolve, reject) => {
      if (handing.length === 0) scheduler.immediate(() => void flushHandOver());
      handing.push({ settlements, resolve, reject });
    });
  }
  async function flushHandOver(): Promise<void> {
    const batch = handing;
    handing = [];
    let claims: Claim[];
    let requestedAt = 0;
    try {
      // A breaker may allow fewer calls now than the answers free; a stopping dispatcher, or a drained target, takes none.
      const slots = ctx.stopping() || (unordered && drained) ? 0 : Math.max(0, Math.min(batch.length, ctx.gate?.permits(target) ?? batch.length));
      const wakesBefore = wakes;
      requestedAt = clock.now();
      const step = await store.settleAndClaim(batch.flatMap((b) => b.settlements), nextInStep(slots));
      claimedInStep(slots, step, wakesBefore);
      let k = 0;
      for (const b of batch) {
        b.resolve(step.results.slice(k, k + b.settlements.length));
        k += b.settlements.length;
      }
      claims = step.claims;
    } catch (error) {
      for (const b of batch) b.reject(error);
      return;
    }
    await track(carryOn(claims, requestedAt).catch((error: unknown) => onError(error, `releasing leases of ${target.name}`)));
  }

  const continuation: Continuation = { handOver: handOver === 'step' ? stepOver : batchOver };

  async function pump(): Promise<void> {
    if (ctx.stopping()) return;
    if (claiming) {
      again = true;
      return;
    }
    if (asyncTimeoutMs !== null && clock.now() >= nextExpiryAt) {
      claiming = true;
      try {
        await expireDeferred({ store, target, owner, clock, random, onEvent: ctx.onEvent });
      } catch (error) {
        onError(error, `timing out deferred deliveries of ${target.name}`);
      } finally {
        claiming = false;
      }
      nextExpiryAt = clock.now() + pollIntervalMs;
      if (ctx.stopping()) return;
    }
    const permitted = ctx.gate ? ctx.gate.permits(target) : Number.POSITIVE_INFINITY;
    const free = Math.min(limit - inFlight - offered, permitted);
    if (permitted <= 0) {
      schedule(ctx.gate?.reopensAt(target) ?? clock.now() + pollIntervalMs);
      return;
    }
    if (free <= 0) return;
    claiming = true;
    again = false;
    drained = false;
    let claims: Claim[] = [];
    /** When the claim came up short: the store's next wake-up time, read in the same step. */
    let lookedAhead: { at: number | null } | undefined;
    let granted = ctx.limiter ? 0 : free;
    let retryAt: number | null = null;
    let limited = false;
    let requestedAt = 0;
    try {
      if (ctx.limiter) {
        ({ granted, retryAt } = await ctx.limiter.acquire(target, free));
        limited = granted < free;
      }
      if (granted > 0) {
        claimingSlots = granted;
        requestedAt = clock.now();
        const found = await store.claimOrLookAhead({ target: target.name, limit: granted, owner, leaseMs: target.lockDurationMs, batchSize, maxBatchWaitMs });
        claims = found.claims;
        if (found.nextWakeAt !== undefined) lookedAhead = { at: found.nextWakeAt };
        drained = unordered && claims.length < granted && !again;
      }
    } catch (error) {
      onError(error, `claiming from ${target.name}`);
    } finally {
      claiming = false;
      claimingSlots = 0;
    }
    if (ctx.stopping()) {
      // Stopped while claiming: what the claim took goes back untried.
      if (ctx.limiter && granted > 0) ctx.limiter.giveBack(target, granted);
      if (claims.length > 0) await carryOn(claims, requestedAt).catch((error: unknown) => onError(error, `releasing leases of ${target.name}`));
      return;
    }
    if (ctx.limiter && claims.length < granted) ctx.limiter.giveBack(target, granted - claims.length);
    ctx.gate?.started(target, claims.length);
    for (const claim of claims) start(claim, requestedAt);
    if (limited && claims.length === granted) {
      // Held back by the endpoint's limits: ask again when a permit is due, or when woken
      // (including by a wake-up that came while this claim was under way).
      if (again) request();
      else if (retryAt !== null) schedule(retryAt);
      return;
    }
    if (claims.length === free || again) {
      request();
      return;
    }
    try {
      const next = lookedAhead ? lookedAhead.at : await store.nextWakeAt(target.name);
      // Due already, yet nothing could be claimed (the target or its topic is paused, or another
      // instance took it meanwhile): looked at again at the poll interval, not at once in a loop.
      const stuck = next !== null && claims.length === 0 && next <= clock.now();
      schedule(next === null || stuck ? clock.now() + pollIntervalMs : next);
    } catch (error) {
      onError(error, `looking ahead on ${target.name}`);
      schedule(clock.now() + pollIntervalMs);
    }
  }

  /**
   * A queue offers its free slots (none that a claim under way may fill) to a send under way:
   * the send's transaction claims what is due for this instance, as a claim would, which saves
   * the claim its wake-up would make after it. What was claimed starts (or goes back, when
   * stopping); a claim that filled the offer leaves the queue undrained, one that came up short
   * drains it (unless woken meanwhile) and sets the timer from its look-ahead.
   */
  function offer(): SendLease | null {
    if (!unordered || ctx.stopping() || ctx.limiter?.governs(target)) return null;
    const slots = Math.min(limit - inFlight - offered - claimingSlots, ctx.gate ? ctx.gate.permits(target) : Number.POSITIVE_INFINITY);
    if (slots <= 0) return null;
    offered += slots;
    const requestedAt = clock.now();
    const wakesBefore = wakes;
    let answer: (() => void) | undefined;
    void track(new Promise<void>((resolve) => (answer = resolve)));
    return {
      owner,
      leaseMs: target.lockDurationMs,
      limit: slots,
      taken: (claims, nextWakeAt) => {
        if (!answer) return; // answered already
        offered -= slots;
        if (claims.length >= slots) drained = false;
        else if (nextWakeAt !== undefined && wakes === wakesBefore) {
          drained = true;
          wakeWhenIdle(nextWakeAt);
        }
        void track(carryOn(claims, requestedAt).catch((error: unknown) => onError(error, `releasing leases of ${target.name}`)));
        answer();
        answer = undefined;
      },
    };
  }

  return {
    pump: wakeUp,
    offer,
    stop: async () => {
      cancelTimer?.();
      timerAt = null;
      await underWay.settled();
    },
    inFlight: () => inFlight,
  };
}
