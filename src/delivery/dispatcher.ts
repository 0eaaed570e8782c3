import { hash, randomBytes } from 'node:crypto';
import type { Target } from '../domain/channel.js';
import { profileOf } from '../domain/profile.js';
import { systemScheduler, type Scheduler } from '../domain/scheduler.js';
import { systemClock, type Clock, type Random } from '../domain/clock.js';
import { decide, type Decision } from '../domain/decide.js';
import { deliveryHeaders, headerNameProblem, headerValueProblem } from '../domain/headers.js';
import type { AttemptRecord, StoredMessage } from '../domain/message.js';
import { partialAck, unsentRest, type PartialAck } from '../domain/partial-ack.js';
import { classify, endpointVerdict, type AttemptResult, type EndpointVerdict } from '../domain/outcome.js';
import type { Claim, ClaimedDelivery, LanePosition, LeaseRef, SendHandOff, Settlement, SettleResult, Store } from '../storage/port.js';
import { CLOUDEVENT_BATCH_CONTENT_TYPE, CLOUDEVENT_CONTENT_TYPE, renderCloudEvent, renderCloudEventBatchWithin } from './cloud-event.js';
import { CallAbort } from './call-signal.js';
import type { HttpSend } from './http-client.js';
import { signatureHeaders } from './signing.js';
import { createTargetWorker, type Continuation, type WorkerContext } from './target-worker.js';

/** What happened to a delivery, for logs, metrics, the event stream and notifications. */
export interface DeliveryEvent {
  /** `deferred`: the endpoint answered 202 on a target with asyncTimeout; the attempt waits for its completion. */
  type: 'delivered' | 'retrying' | 'deadlettered' | 'parked' | 'stalled' | 'fenced' | 'deferred';
  target: string;
  lane: string | null;
  ids: string[];
  attempt: number;
  /** The lease epoch of the first delivery: each claim of a delivery has its own, also after a redrive or retry. */
  epoch?: number;
  durationMs: number;
  reason?: string;
  statusCode?: number | null;
  /** parked/stalled: true only on the transition, so an alert is raised once. */
  newlyBlocked?: boolean;
  /** delivered: per message, ms from when it could first be delivered (stored, or its deliverAt) until now. */
  latenciesMs?: number[];
}

/** Lets a circuit breaker hold a target back without consuming attempts. */
export interface DeliveryGate {
  /** Calls to this target's endpoint that may start now: unlimited, none (open) or one probe. */
  permits(target: Target): number;
  started(target: Target, count: number): void;
  /** What one call says about the endpoint (see `endpointVerdict`); only `success` and `failure` are counted. */
  record(target: Target, outcome: EndpointVerdict): void;
  /** When a held-back target should be looked at again. */
  reopensAt(target: Target): number | null;
}

/** One traced delivery attempt; `traceparent` goes out as the call's header. */
export interface AttemptSpan {
  traceparent: string;
  end(result: { outcome: DeliveryEvent['type'] | 'released' | 'error'; statusCode: number | null; error: string | null }): void;
}

/** Traces each delivery attempt as a child of the producer's `traceparent` (OpenTelemetry when configured). */
export interface AttemptTracer {
  startAttempt(info: { target: string; url: string; attempt: number; messageIds: string[]; traceparent: string | undefined }): AttemptSpan;
}

/**
 * Endpoint flow control (rate limits, concurrency, adaptive limits): permits are taken before a
 * claim, so waiting for one never counts an attempt and never holds an ordered lane.
 */
export interface DeliveryLimiter {
  /** Whether the target's endpoint has limits (its calls then hand over no slot: it claims through acquire, not settleAndClaim). */
  governs(target: Target): boolean;
  /** Permits for up to `wanted` calls; with fewer, `retryAt` says when to ask again (null: when woken). */
  acquire(target: Target, wanted: number): Promise<{ granted: number; retryAt: number | null }>;
  /** Permits acquired but not used: fewer deliveries were ready. */
  giveBack(target: Target, count: number): void;
  /** A call that held a permit ended (`result` null when it never got an answer to classify). */
  finished(target: Target, call: { startedAt: number; result: AttemptResult | null }): void;
}

export interface DispatcherOptions {
  store: Store;
  targets: readonly Target[];
  send: HttpSend;
  /** Identifies this instance's leases. */
  owner?: string;
  clock?: Clock;
  /** Timers and next turns of the event loop; tests pass a fake one driven with the fake clock. */
  scheduler?: Scheduler;
  random?: Random;
  /** Fallback poll for work that no wake-up announced (other instances, outbox writes). Default 1s. */
  pollIntervalMs?: number;
  gate?: DeliveryGate;
  limiter?: DeliveryLimiter;
  onEvent?: (event: DeliveryEvent) => void;
  onError?: (error: unknown, context: string) => void;
  tracer?: AttemptTracer;
  /**
   * Asynchronous acknowledgement: mints the `Offload-Completion-Token` sent with each call to a
   * target with `asyncTimeout` (no token, no header: a 202 is then deferred all the same).
   */
  completionToken?: (lease: LeaseRef) => string | undefined;
}

export interface Dispatcher {
  start(): void;
  /** Something may be claimable now on these targets (all when omitted). */
  wake(targets?: readonly string[]): void;
  /** These targets were paused or sought: messages claimed ahead (prefetch) are not sent after the call under way, and go back. */
  hold(targets: readonly string[]): void;
  /** What this dispatcher offers sends to its queues: their free slots (register it with Store.handOffSends). */
  readonly handOff: SendHandOff;
  /**
   * Stops claiming, lets in-flight calls finish until the deadline, then aborts and releases the
   * rest; resolves once no store call of the dispatcher is under way (claims, look-aheads,
   * renewals; a claim under way at the stop has its deliveries given back untried), so the
   * store may close.
   */
  stop(deadlineMs?: number): Promise<void>;
  inFlight(): number;
}

interface Running {
  claim: Claim;
  abort: CallAbort;
  leases: LeaseRef[];
  lockDurationMs: number;
  /** When the lease ends as far as this instance knows: from when its claim was asked for, then from each renewal that succeeded. */
  leaseEnds: number;
  /** The timer that cuts the call off just before leaseEnds, armed when no renewal came in time. */
  watching?: () => void;
  /** Cut off by that timer: the lease ran out with no renewal confirmed. */
  leaseRanOut?: boolean;
  /** The call has ended: nothing is left to cut off (its settlement may still be retried). */
  ended?: boolean;
  /** Ends the wait before a settlement's next try (stop() past its deadline). */
  stopWaiting?: () => void;
  /** Deliveries claimed ahead whose answers are being saved: a renewal that finds them settled lost nothing. */
  saving?: Set<number>;
  /** Its target was paused or sought here: no further call of the messages claimed ahead. */
  held?: boolean;
}

const leaseOf = (d: ClaimedDelivery): LeaseRef => ({ deliveryId: d.deliveryId, epoch: d.epoch });

/** One call of a window of messages claimed ahead, answered: its settlement, waiting to be saved. */
interface Answered {
  settlement: Settlement;
  one: Claim;
  span: AttemptSpan | undefined;
}

/**
 * How long an answer of a window of messages claimed ahead waits to be saved with those after
 * it: the store takes one step per window, or per this long with a slow endpoint.
 */
const SAVE_WITHIN_MS = 20;

/** How long before its lease ends a call nobody could renew is cut off: a tenth of the lease, at most 1 s. */
const leaseMargin = (lockDurationMs: number) => Math.min(1_000, Math.floor(lockDurationMs / 10));
/** Attempts to save an answer while the store is failing, each after this long, while the lease still holds. */
const SETTLE_RETRY_MS = [50, 100, 200, 400, 800, 1_600];
/**
 * Most bytes of one batched call: half of `offload/receiver`'s default maxBodyBytes. A backlog of
 * large events goes in several calls instead of one body an endpoint refuses (413) on every try.
 */
export const MAX_BATCH_BODY_BYTES = 16 * 1024 * 1024;

export function createDispatcher(options: DispatcherOptions): Dispatcher {
  const clock = options.clock ?? systemClock;
  const scheduler = options.scheduler ?? systemScheduler;
  const random = options.random ?? Math.random;
  const owner = options.owner ?? `offload-${randomBytes(4).toString('hex')}`;
  const pollIntervalMs = options.pollIntervalMs ?? 1_000;
  const onError = options.onError ?? (() => undefined);
  let stopping = false;
  const workerContext: WorkerContext = {
    store: options.store, gate: options.gate, limiter: options.limiter, onEvent: options.onEvent,
    clock, scheduler, owner, random, pollIntervalMs, onError,
    stopping: () => stopping,
    deliver: (target, claim, continuation, requestedAt) => deliver(target, claim, continuation, requestedAt),
  };
  const workers = new Map(options.targets.map((t) => [t.name, createTargetWorker(t, workerContext)]));
  let stopRenewing: (() => void) | undefined;
  const running = new Set<Running>();
  /** Lease renewals under way (a deferral waits for them, so none shortens its held lease afterwards). */
  const renewals = new Set<Promise<void>>();
  const idleWaiters = new Set<() => void>();


  /** Makes the call and settles it; resolves true when the answer was settled as delivered or dead-lettered (it made nothing new due). */
  async function deliver(target: Target, claim: Claim, continuation: Continuation, requestedAt: number): Promise<boolean> {
    const profile = profileOf(target);
    if (claim.deliveries.length > 1 && profile.batchSize === 1) return deliverInTurn(target, claim, continuation, requestedAt);
    const leases = claim.deliveries.map(leaseOf);
    // The store leased from when the claim was asked for, or later: the earliest its lease can end.
    const entry: Running = { claim, abort: new CallAbort(), leases, lockDurationMs: target.lockDurationMs, leaseEnds: requestedAt + target.lockDurationMs };
    running.add(entry);
    const head = claim.deliveries[0]!;
    const span = options.tracer?.startAttempt({
      target: target.name, url: target.url, attempt: head.attempt, messageIds: claim.deliveries.map((d) => d.message.id), traceparent: head.message.metadata.traceparent,
    });
    const startedAt = clock.now();
    let answer: AttemptResult | null = null;
    try {
      const { sent, answered, result } = await callFor(target, claim.deliveries, entry, startedAt, span);
      answer = answered;
      if (!result) {
        span?.end({ outcome: 'released', statusCode: null, error: 'shutting down' });
        return false; // released by stop()
      }
      const durationMs = Math.max(0, clock.now() - startedAt);
      const outcome = classify(result, clock.now());
      options.gate?.record(target, endpointVerdict(result));
      const asyncTimeoutMs = profile.asyncTimeoutMs;
      if (asyncTimeoutMs !== null && result.kind === 'response' && result.statusCode === 202 && !entry.abort.aborted) {
        // Deferred: the lease (and lane) is held to the deadline plus one lease, so that an
        // instance that finds the deadline passed takes it over before any claim could.
        forget(entry);
        await Promise.all(renewals);
        const deadline = clock.now() + asyncTimeoutMs;
        const deferred = await options.store.defer(leases, deadline, deadline + target.lockDurationMs);
        span?.end({ outcome: 'deferred', statusCode: 202, error: null });
        if (deferred.some(Boolean)) {
          options.onEvent?.({ type: 'deferred', target: target.name, lane: claim.lane, ids: claim.deliveries.map((d) => d.message.id), attempt: head.attempt, durationMs, statusCode: 202 });
        }
        return false;
      }
      const attempt = attemptRecord(head.attempt, startedAt, durationMs, result);
      const sentIds = claim.deliveries.slice(0, sent).map((d) => d.message.id);
      const partial = claim.lane === null ? undefined : (partialAck(result, outcome, sentIds) ?? unsentRest(outcome, sent, claim.deliveries.length));
      if (partial !== undefined) {
        const type = await settlePartly(target, claim, partial, attempt);
        span?.end({ outcome: type, statusCode: attempt.statusCode, error: attempt.error });
        return false;
      }
      const decision = decide(target, head.attempt, outcome, clock.now(), random, head.message.expiresAt);
      const settlements = claim.deliveries.map((d) => ({
        deliveryId: d.deliveryId,
        epoch: d.epoch,
        decision,
        attempt: { ...attempt, attempt: d.attempt },
        result: decision.kind === 'delivered' ? attempt.response : null,
      }));
      const goOn = decision.kind === 'delivered' && !stopping && (options.gate?.permits(target) ?? 1) > 0 && !options.limiter?.governs(target);
      const results = await settleWhileLeased(entry, target, settlements, goOn ? continuation.handOver : (s) => options.store.settle(s));
      const type = report(target, claim, decision, results, attempt);
      span?.end({ outcome: type, statusCode: attempt.statusCode, error: attempt.error });
      return decision.kind === 'delivered' || decision.kind === 'deadletter';
    } catch (error) {
      span?.end({ outcome: 'error', statusCode: null, error: error instanceof Error ? error.message : String(error) });
      // The lease expires and the delivery is tried again: nothing is lost.
      onError(error, `delivering from ${target.name}`);
      return false;
    } finally {
      options.limiter?.finished(target, { startedAt, result: answer });
      forget(entry);
      if (running.size === 0) for (const resolve of idleWaiters) resolve();
    }
  }

  /**
   * A lane's deliveries claimed ahead (the profile's `prefetch`), sent one call each in lane order:
   * the next call starts as soon as the one before it is answered 2xx. Answers are saved in lane
   * order, together: with the last of the window (in the step that claims the next), or once the
   * oldest has waited SAVE_WITHIN_MS. The first answer that is not a success ends the window:
   * what was not sent goes back untried (released before the failure is settled, so the lane then
   * waits or blocks at the failed event), as it does when stopping, when paused here, when the
   * lease is lost, when the breaker opens, or at an event that is not due yet.
   */
  async function deliverInTurn(target: Target, claim: Claim, continuation: Continuation, requestedAt: number): Promise<boolean> {
    const deliveries = claim.deliveries;
    const entry: Running = { claim, abort: new CallAbort(), leases: deliveries.map(leaseOf), lockDurationMs: target.lockDurationMs, leaseEnds: requestedAt + target.lockDurationMs, saving: new Set() };
    running.add(entry);
    /** A save failed or was fenced: nothing more is sent under this claim. */
    let halted = false;
    const firstStartedAt = clock.now();
    let answer: AttemptResult | null = null;
    /** Answers not saved yet, in lane order; the save under way; the timer that starts the next. */
    let unsaved: Answered[] = [];
    let saving: Promise<void> | null = null;
    let cancelTimer: (() => void) | undefined;

    const saveAll = async (): Promise<void> => {
      while (unsaved.length > 0) {
        const batch = unsaved;
        unsaved = [];
        if (halted) {
          endFenced(batch);
          continue;
        }
        try {
          const results = await settleWhileLeased(entry, target, batch.map((b) => b.settlement), (s) => options.store.settle(s));
          forgetLeases(batch.map((b) => b.settlement.deliveryId));
          if (reportAll(target, batch, results)) {
            halted = true;
            entry.abort.abort();
          }
        } catch (error) {
          halted = true;
          for (const b of batch) b.span?.end({ outcome: 'error', statusCode: null, error: error instanceof Error ? error.message : String(error) });
          onError(error, `delivering from ${target.name}`);
        }
      }
    };
    /** Starts saving what is unsaved (unless a save is under way, which takes it too); resolves when nothing is left. */
    const flush = async (): Promise<void> => {
      cancelTimer?.();
      cancelTimer = undefined;
      if (unsaved.length > 0) saving ??= saveAll().finally(() => (saving = null));
      while (saving) await saving;
    };
    const forgetLeases = (ids: readonly number[]) => {
      const gone = new Set(ids);
      entry.leases = entry.leases.filter((l) => !gone.has(l.deliveryId));
    };
    const giveBack = async (rest: readonly ClaimedDelivery[]) => {
      await options.store.release(rest.map(leaseOf));
      forgetLeases(rest.map((d) => d.deliveryId));
    };
    try {
      for (let i = 0; i < deliveries.length; i++) {
        const d = deliveries[i]!;
        const last = i === deliveries.length - 1;
        if (i > 0 && (halted || stopping || entry.held || entry.abort.aborted || (options.gate?.permits(target) ?? 1) <= 0 || (d.message.deliverAt ?? 0) > clock.now())) {
          await flush();
          if (!halted) await giveBack(deliveries.slice(i));
          return false;
        }
        const one: Claim = { ...claim, deliveries: [d] };
        const span = options.tracer?.startAttempt({ target: target.name, url: target.url, attempt: d.attempt, messageIds: [d.message.id], traceparent: d.message.metadata.traceparent });
        const startedAt = clock.now();
        const { answered: raw, result } = await callFor(target, [d], entry, startedAt, span);
        answer = raw;
        if (!result) {
          span?.end({ outcome: 'released', statusCode: null, error: 'shutting down' });
          await flush();
          return false; // the rest is released by stop()
        }
        const durationMs = Math.max(0, clock.now() - startedAt);
        const outcome = classify(result, clock.now());
        options.gate?.record(target, endpointVerdict(result));
        const attempt = attemptRecord(d.attempt, startedAt, durationMs, result);
        const decision = decide(target, d.attempt, outcome, clock.now(), random, d.message.expiresAt);
        const answered: Answered = { settlement: { deliveryId: d.deliveryId, epoch: d.epoch, decision, attempt, result: decision.kind === 'delivered' ? attempt.response : null }, one, span };
        if (decision.kind === 'delivered' && !last) {
          entry.saving!.add(d.deliveryId);
          unsaved.push(answered);
          if (!saving && !cancelTimer) cancelTimer = scheduler.timeout(() => void flush(), SAVE_WITHIN_MS);
          continue;
        }
        let batch: Answered[];
        if (decision.kind === 'delivered') {
          // The last of the window: saved with every answer still unsaved, in the step that claims the next.
          cancelTimer?.();
          cancelTimer = undefined;
          while (saving) await saving;
          batch = [...unsaved, answered];
          unsaved = [];
        } else {
          // A failure: what was delivered before it is saved first, and what was not sent goes back.
          await flush();
          if (!halted && !last) await giveBack(deliveries.slice(i + 1));
          batch = [answered];
        }
        if (halted) {
          endFenced(batch);
          return false;
        }
        const goOn = last && decision.kind === 'delivered' && !stopping && (options.gate?.permits(target) ?? 1) > 0 && !options.limiter?.governs(target);
        const settlements = batch.map((b) => b.settlement);
        const results = await settleWhileLeased(entry, target, settlements, goOn ? continuation.handOver : (s) => options.store.settle(s));
        reportAll(target, batch, results);
        return decision.kind === 'delivered' || decision.kind === 'deadletter';
      }
      return false;
    } catch (error) {
      onError(error, `delivering from ${target.name}`);
      return false;
    } finally {
      cancelTimer?.();
      options.limiter?.finished(target, { startedAt: firstStartedAt, result: answer });
      forget(entry);
      if (running.size === 0) for (const resolve of idleWaiters) resolve();
    }
  }

  /**
   * Makes the call for these deliveries under the entry's lease. `answered` is what came back;
   * `result` is what it says of the endpoint, or null when stop() cut the call off (it is released).
   */
  async function callFor(target: Target, deliveries: ClaimedDelivery[], entry: Running, startedAt: number, span: AttemptSpan | undefined): Promise<{ sent: number; answered: AttemptResult; result: AttemptResult | null }> {
    const call = requestFor(target, deliveries, startedAt, span?.traceparent);
    const sent = 'refused' in call ? deliveries.length : call.count;
    entry.ended = false;
    const answered = 'refused' in call ? call.refused : await options.send({ url: call.url, body: call.body, headers: call.headers, timeoutMs: target.timeoutMs, signal: entry.abort });
    entry.ended = true;
    if (entry.abort.aborted && stopping) return { sent, answered, result: null };
    // A call ended by Offload (its lease was lost) says nothing about the endpoint.
    if (entry.abort.aborted && answered.kind !== 'response') {
      return { sent, answered, result: { kind: 'aborted', error: entry.leaseRanOut ? 'cut off: the lease was about to run out and could not be renewed' : 'the lease was lost' } };
    }
    return { sent, answered, result: answered };
  }

  /** Ends the spans of answers a fenced or failed save of their window left unsaved. */
  function endFenced(batch: readonly Answered[]): void {
    for (const b of batch) b.span?.end({ outcome: 'fenced', statusCode: b.settlement.attempt.statusCode, error: b.settlement.attempt.error });
  }

  /** Reports each saved answer of a window and ends its span; true when one was fenced. */
  function reportAll(target: Target, batch: readonly Answered[], results: readonly SettleResult[]): boolean {
    let fenced = false;
    batch.forEach((b, k) => {
      const type = report(target, b.one, b.settlement.decision, [results[k]!], b.settlement.attempt);
      b.span?.end({ outcome: type, statusCode: b.settlement.attempt.statusCode, error: b.settlement.attempt.error });
      if (type === 'fenced') fenced = true;
    });
    return fenced;
  }

  function forget(entry: Running): void {
    running.delete(entry);
    entry.watching?.();
    entry.watching = undefined;
  }

  /**
   * Saves an answer. When the store fails (a dropped connection, a restart), the same settlement
   * is tried again, plainly, while the lease still holds: the call happened and its answer is
   * kept, instead of the delivery being sent again once the lease runs out. A settlement that
   * did commit before its answer was lost is found fenced on the next try.
   */
  async function settleWhileLeased(entry: Running, target: Target, settlements: Settlement[], first: (s: Settlement[]) => Promise<SettleResult[]>): Promise<SettleResult[]> {
    // The lease as it stood when the answer came: renewals go on while this runs, but a
    // settlement that keeps failing must not hold the delivery (and its key) for ever.
    const until = entry.leaseEnds - leaseMargin(entry.lockDurationMs);
    let settle = first;
    for (let retry = 0; ; retry++) {
      try {
        const results = await settle(settlements);
        if (retry === 0 || !results.includes('fenced')) return results;
        // A try that failed may have committed before its answer was lost: an attempt found
        // settled at its own epoch was settled by this very settlement, not taken over.
        return await Promise.all(results.map(async (result, i) => {
          if (result !== 'fenced') return result;
          const s = settlements[i]!;
          return (await options.store.findInFlight(s.deliveryId, s.epoch)) === 'settled' ? 'ok' : result;
        }));
      } catch (error) {
        const wait = SETTLE_RETRY_MS[Math.min(retry, SETTLE_RETRY_MS.length - 1)]!;
        if (stopping || clock.now() + wait >= until) throw error;
        onError(error, `saving an answer from ${target.name} (trying again while its lease holds)`);
        await new Promise<void>((resolve, reject) => {
          const cancel = scheduler.timeout(() => {
            entry.stopWaiting = undefined;
            resolve();
          }, wait);
          entry.stopWaiting = () => {
            cancel();
            reject(error);
          };
        });
        settle = (s) => options.store.settle(s);
      }
    }
  }

  /** An ordered batch answered with `appliedThrough`: the prefix is delivered, the rest settled by the answer or released. */
  async function settlePartly(target: Target, claim: Claim, partial: PartialAck, attempt: AttemptRecord): Promise<DeliveryEvent['type']> {
    const settle = (deliveries: ClaimedDelivery[], decision: Decision) =>
      deliveries.map((d) => ({ deliveryId: d.deliveryId, epoch: d.epoch, decision, attempt: { ...attempt, attempt: d.attempt }, result: decision.kind === 'delivered' ? attempt.response : null }));
    const done = claim.deliveries.slice(0, partial.applied);
    const rest = claim.deliveries.slice(partial.applied);
    const delivered: Decision = { kind: 'delivered' };
    if (partial.rest === 'release') {
      const type = report(target, { ...claim, deliveries: done }, delivered, await options.store.settle(settle(done, delivered)), attempt);
      await options.store.release(rest);
      return type;
    }
    const decision = decide(target, rest[0]!.attempt, partial.rest, clock.now(), random, rest[0]!.message.expiresAt);
    // One settlement batch: the lane moves past the prefix and waits (or blocks) at the first of the rest.
    const results = await options.store.settle([...settle(done, delivered), ...settle(rest, decision)]);
    report(target, { ...claim, deliveries: done }, delivered, results.slice(0, done.length), attempt);
    return report(target, { ...claim, deliveries: rest }, decision, results.slice(done.length), attempt);
  }

  /** Tells the event listener what became of the attempt; returns it. */
  function report(target: Target, claim: Claim, decision: Decision, results: string[], attempt: AttemptRecord): DeliveryEvent['type'] {
    const fenced = results.every((r) => r === 'fenced');
    const type = fenced ? 'fenced' : decision.kind === 'retry' ? 'retrying' : decision.kind === 'deadletter' ? 'deadlettered' : decision.kind === 'park' ? 'parked' : decision.kind === 'stall' ? 'stalled' : 'delivered';
    if (!options.onEvent) return type;
    const event: DeliveryEvent = { type, target: target.name, lane: claim.lane, ids: claim.deliveries.map((d) => d.message.id), attempt: attempt.attempt, epoch: claim.deliveries[0]?.epoch, durationMs: attempt.durationMs, statusCode: attempt.statusCode };
    if ('reason' in decision) event.reason = decision.reason;
    if (decision.kind === 'park' || decision.kind === 'stall') event.newlyBlocked = results.includes('blocked');
    if (type === 'delivered') {
      const now = clock.now();
      event.latenciesMs = claim.deliveries.map((d) => Math.max(0, now - Math.max(d.message.createdAt, d.message.deliverAt ?? 0)));
    }
    options.onEvent(event);
    return type;
  }

  async function renewAll(): Promise<void> {
    const byLease = new Map<number, { target: Target; entries: Running[] }>();
    for (const entry of running) {
      const target = options.targets.find((t) => t.name === entry.claim.target)!;
      const group = byLease.get(target.lockDurationMs) ?? { target, entries: [] };
      group.entries.push(entry);
      byLease.set(target.lockDurationMs, group);
    }
    for (const [leaseMs, group] of byLease) {
      const started = clock.now();
      try {
        // A delivery claimed again here (a retry, a lease given back) while its earlier attempt is
        // still being saved has two entries: only its newest epoch is renewed, and a lost id
        // speaks of that epoch alone, never of the attempt under way on the older one.
        const newest = new Map<number, number>();
        for (const entry of group.entries) for (const l of entry.leases) newest.set(l.deliveryId, Math.max(l.epoch, newest.get(l.deliveryId) ?? l.epoch));
        const lost = new Set(await options.store.renew([...newest].map(([deliveryId, epoch]) => ({ deliveryId, epoch })), leaseMs));
        for (const entry of group.entries) {
          const current = entry.leases.filter((l) => newest.get(l.deliveryId) === l.epoch);
          if (current.some((l) => lost.has(l.deliveryId) && !entry.saving?.has(l.deliveryId))) entry.abort.abort();
          else if (current.length === entry.leases.length) entry.leaseEnds = Math.max(entry.leaseEnds, started + leaseMs);
        }
      } catch (error) {
        onError(error, 'renewing leases');
      }
      // Renewals run every third of the shortest lease: one slower than that puts leases at risk.
      const took = clock.now() - started;
      if (took > leaseMs / 3) {
        const targets = [...new Set(group.entries.map((e) => e.claim.target))].join(', ');
        onError(new Error(`renewing leases of ${targets} took ${took} ms, more than a third of their ${leaseMs} ms lease (store slow or out of connections)`), 'renewing leases');
      }
    }
  }

  /**
   * A call whose lease would end before the next renewal could confirm it (renewals failing or
   * hanging: the store unreachable) is cut off just before the lease ends, so that it never runs
   * on while another instance takes its delivery (and its key) over.
   */
  function watchLeases(tickMs: number): void {
    const now = clock.now();
    for (const entry of running) {
      const margin = leaseMargin(entry.lockDurationMs);
      if (entry.watching || entry.ended || entry.abort.aborted || entry.leaseEnds - now > tickMs + margin) continue;
      const cutOff = () => {
        if (!running.has(entry) || entry.ended || entry.abort.aborted || clock.now() < entry.leaseEnds - margin) return;
        entry.leaseRanOut = true;
        entry.abort.abort();
        onError(new Error(`cut off a call to ${entry.claim.target}: its lease was about to run out and could not be renewed`), 'renewing leases');
      };
      entry.watching = scheduler.timeout(() => {
        entry.watching = undefined;
        // Timers run before input is read: after a stall (a busy process, a slow machine) the
        // answer may be waiting unread. It is read first; only a call still under way is cut off.
        scheduler.immediate(cutOff);
      }, Math.max(0, entry.leaseEnds - margin - now));
    }
  }

  return {
    start() {
      const shortest = Math.min(...options.targets.map((t) => t.lockDurationMs), 30_000);
      const tickMs = Math.max(50, Math.floor(shortest / 3));
      stopRenewing = scheduler.interval(() => {
        watchLeases(tickMs);
        const renewal = renewAll().finally(() => renewals.delete(renewal));
        renewals.add(renewal);
      }, tickMs);
      for (const worker of workers.values()) worker.pump();
    },
    wake(targets) {
      if (stopping) return;
      if (!targets) for (const worker of workers.values()) worker.pump();
      else for (const name of targets) workers.get(name)?.pump();
    },
    hold(targets) {
      const held = new Set(targets);
      for (const entry of running) if (held.has(entry.claim.target)) entry.held = true;
    },
    async stop(deadlineMs = 30_000) {
      stopping = true;
      // Claims and look-ahead under way end before the store may close; a claim's deliveries go back untried.
      const quiet = Promise.all([...workers.values()].map((worker) => worker.stop()));
      if (running.size > 0) {
        await new Promise<void>((resolve) => {
          const cancel = scheduler.timeout(resolve, deadlineMs);
          idleWaiters.add(() => {
            cancel();
            resolve();
          });
        });
      }
      const leftover = [...running];
      for (const entry of leftover) {
        entry.abort.abort();
        entry.stopWaiting?.();
      }
      stopRenewing?.();
      await Promise.all(renewals);
      try {
        await options.store.release(leftover.flatMap((e) => e.leases));
      } catch (error) {
        onError(error, 'releasing leases');
      }
      await quiet;
    },
    handOff: { offer: (target) => (stopping ? null : (workers.get(target)?.offer() ?? null)) },
    inFlight: () => [...workers.values()].reduce((n, w) => n + w.inFlight(), 0),
  };

  /** The call for a claim, or why this message cannot be sent at all (it would fail the same way on every attempt). */
  function requestFor(target: Target, deliveries: ClaimedDelivery[], now: number, traceparent: string | undefined): ReturnType<typeof buildCall> | { refused: AttemptResult } {
    const problem = unsendable(deliveries[0]!.message);
    if (problem) return { refused: { kind: 'refused', error: problem } };
    try {
      return buildCall(target, deliveries, now, traceparent);
    } catch (error) {
      return { refused: { kind: 'refused', error: error instanceof Error ? error.message : String(error) } };
    }
  }

  function buildCall(target: Target, deliveries: ClaimedDelivery[], now: number, traceparent: string | undefined): { url: string; body: string; headers: Record<string, string>; count: number } {
    const head = deliveries[0]!;
    const profile = profileOf(target);
    const batched = profile.batchSize > 1;
    // A deferred (202) call is completed for every delivery it holds, so its batch is never cut.
    const limit = profile.asyncTimeoutMs === null ? MAX_BATCH_BODY_BYTES : Number.POSITIVE_INFINITY;
    const { body, count } = batched ? renderCloudEventBatchWithin(deliveries, limit) : { body: renderCloudEvent(head.message, head.attempt, head.lanePosition), count: 1 };
    const id = batched ? `${head.message.id}..${deliveries[count - 1]!.message.id}` : head.message.id;
    // The endpoint's configured headers (its credentials) always win over a message's own.
    const headers = deliveryHeaders(target.headers, head.message.metadata.headers, {
      'content-type': batched ? CLOUDEVENT_BATCH_CONTENT_TYPE : CLOUDEVENT_CONTENT_TYPE,
      'idempotency-key': id,
      traceparent: traceparent ?? head.message.metadata.traceparent ?? newTraceparent(head.message.channel, id),
      'user-agent': 'offload',
      ...laneHeaders(head.lanePosition),
      ...completionHeader(target, head),
    });
    if (target.secrets.length > 0) Object.assign(headers, signatureHeaders(target.secrets, id, body, now));
    return { url: target.url, body, headers, count };
  }

  function completionHeader(target: Target, head: ClaimedDelivery): Record<string, string> {
    if (target.asyncTimeoutMs === undefined) return {};
    const token = options.completionToken?.({ deliveryId: head.deliveryId, epoch: head.epoch });
    return token === undefined ? {} : { 'offload-completion-token': token };
  }
}

/** Ordered targets: where the call's first event stands in its lane (each event also carries it). */
function laneHeaders(lane: LanePosition | undefined): Record<string, string> {
  if (lane === undefined) return {};
  // Keys are printable ASCII (limits at the door), so a key is a valid header value as it is.
  const headers: Record<string, string> = { 'offload-lane': lane.lane, 'offload-lane-position': String(lane.position) };
  if (lane.previousId !== null) headers['offload-lane-previous'] = lane.previousId;
  return headers;
}

let entropy = Buffer.alloc(0);
let entropyOffset = 0;
/** A new W3C trace context per delivery; random bytes are drawn in bulk because this is per call. */
/**
 * The traceparent of an attempt of a message that carries none: its trace id is derived from the
 * channel and the message id (every attempt and redrive of the message, on any instance, joins
 * one trace), its parent id is new for each attempt.
 */
function newTraceparent(channel: string, messageId: string): string {
  if (entropyOffset + 8 > entropy.length) {
    entropy = randomBytes(8 * 1024);
    entropyOffset = 0;
  }
  const spanId = entropy.toString('hex', entropyOffset, entropyOffset + 8);
  entropyOffset += 8;
  // One-shot hash: the same digest as a Hash object fed the three parts, at a third of its cost.
  const traceId = hash('sha256', `${channel}\u0000${messageId}`, 'hex').slice(0, 32);
  // All-zero ids are invalid in W3C Trace Context (a 2^-128 or 2^-64 chance, but a header must be valid).
  return `00-${/^0+$/.test(traceId) ? '1'.padStart(32, '0') : traceId}-${/^0+$/.test(spanId) ? '1'.padStart(16, '0') : spanId}-01`;
}

/**
 * Why a stored message's own headers cannot travel in an HTTP request (messages stored before
 * they were checked at the door, or written through the outbox), or undefined when they can.
 */
function unsendable(message: StoredMessage): string | undefined {
  for (const [name, value] of Object.entries(message.metadata.headers ?? {})) {
    const problem = headerNameProblem(name) ?? headerValueProblem(value);
    if (problem) return `header '${JSON.stringify(name).slice(1, -1)}': ${problem}`;
  }
  const traceparent = message.metadata.traceparent;
  if (traceparent !== undefined && (typeof traceparent !== 'string' || headerValueProblem(traceparent))) return 'metadata.traceparent cannot be sent as a header';
  return undefined;
}

function attemptRecord(attempt: number, startedAt: number, durationMs: number, result: AttemptResult): AttemptRecord {
  if (result.kind === 'response') {
    return { attempt, startedAt, durationMs, statusCode: result.statusCode, error: null, response: result.body ?? null };
  }
  return { attempt, startedAt, durationMs, statusCode: null, error: result.kind === 'timeout' ? 'timeout' : result.error, response: null };
}
