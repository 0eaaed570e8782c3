import { createHash } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DeliveryPolicy, FifoTarget, QueueTarget, SubscriptionTarget, Target } from '../domain/channel.js';
import { createFakeClock, type FakeClock } from '../domain/clock.js';
import { newMessage } from '../domain/message.js';
import type { AttemptResult, EndpointVerdict } from '../domain/outcome.js';
import { createFakeScheduler, type FakeScheduler } from '../domain/scheduler.js';
import type { Claim, Store } from '../storage/port.js';
import { createSqliteStore } from '../storage/sqlite/sqlite-store.js';
import { createDispatcher, type DeliveryEvent, type DeliveryGate, type Dispatcher } from './dispatcher.js';
import type { HttpCall } from './http-client.js';

const LOCK = 30_000;
const policy: DeliveryPolicy = {
  url: 'http://127.0.0.1:9/hook', endpoint: 'sink', timeoutMs: 10_000, lockDurationMs: LOCK, concurrency: 4,
  maxAttempts: 3, minBackoffMs: 1_000, maxBackoffMs: 10_000, secrets: [], headers: {},
};
const queue: QueueTarget = { ...policy, kind: 'queue', name: 'q', ordering: 'none' };
const subscription: SubscriptionTarget = {
  ...policy, kind: 'subscription', name: 't/s', topic: 't', subscription: 's', ordering: 'topic', concurrency: 1,
  batchSize: 1, maxBatchWaitMs: 0, prefetch: 1, stallAfterAttempts: 5, startFrom: 'latest',
};

/** An endpoint the test answers by hand: each call waits until the test resolves it. */
function createManualEndpoint() {
  const calls: Array<{ call: HttpCall; answer: (result: AttemptResult) => void }> = [];
  return {
    calls,
    send(call: HttpCall): Promise<AttemptResult> {
      return new Promise((resolve) => {
        // As the HTTP client does: an abort ends the call at once.
        call.signal?.addEventListener('abort', () => resolve({ kind: 'aborted', error: 'lease lost or shutting down' }), { once: true });
        calls.push({ call, answer: resolve });
      });
    },
    ids: () => calls.map((c) => c.call.headers['idempotency-key']),
  };
}

describe('dispatcher (fake clock, fake scheduler, SQLite in memory)', () => {
  let clock: FakeClock;
  let scheduler: FakeScheduler;
  let store: Store;
  let endpoint: ReturnType<typeof createManualEndpoint>;
  let events: DeliveryEvent[];
  let dispatcher: Dispatcher | undefined;

  beforeEach(async () => {
    clock = createFakeClock();
    scheduler = createFakeScheduler(clock);
    store = createSqliteStore({ path: ':memory:', clock });
    await store.declare([{ name: 'q', kind: 'queue' }, { name: 'f', kind: 'fifo' }, { name: 't', kind: 'topic' }, { name: 't/s', kind: 'subscription', topic: 't', ordering: 'topic' }]);
    endpoint = createManualEndpoint();
    events = [];
  });
  afterEach(async () => {
    if (dispatcher) {
      const stopped = dispatcher.stop(0);
      await scheduler.advance(0);
      await stopped;
    }
    dispatcher = undefined;
    // Nothing of the dispatcher keeps running after stop.
    expect(scheduler.pending()).toBe(0);
    await store.close();
  });

  const start = (targets: Target[], gate?: DeliveryGate) => {
    dispatcher = createDispatcher({ store, targets, send: endpoint.send, clock, scheduler, owner: 'me', random: () => 0, gate, onEvent: (e) => events.push(e) });
    dispatcher.start();
    return dispatcher;
  };
  const statusOf = async (id: string) => (await store.getMessage(id))[0]!.deliveries[0]!;
  /**
   * The store's first call of `method` does its work (a settlement commits, a claim takes its
   * leases), but its answer reaches the dispatcher only at `release()`.
   */
  const holdFirstCall = <K extends 'settle' | 'claimOrLookAhead' | 'renew'>(method: K) => {
    let release: (() => void) | undefined;
    let held = false;
    const real = store;
    const call = real[method].bind(real) as (...args: unknown[]) => Promise<unknown>;
    store = Object.assign(Object.create(null) as Store, real, {
      [method]: async (...args: unknown[]) => {
        const answer = await call(...args);
        if (!held) {
          held = true;
          await new Promise<void>((resolve) => (release = resolve));
        }
        return answer;
      },
    });
    return { real, held: () => held, release: () => release!() };
  };
  const holdFirstSettlement = () => holdFirstCall('settle');
  /** stop() does not resolve while the held call is under way, and does once it is answered. */
  const stopWaitsFor = async (d: Dispatcher, hold: ReturnType<typeof holdFirstCall>) => {
    let stopped = false;
    const stopping = d.stop(5_000).then(() => (stopped = true));
    await scheduler.settle();
    expect(stopped).toBe(false);
    hold.release();
    await stopping;
    dispatcher = undefined;
  };

  it('claims, calls and settles a message, and is idle afterwards', async () => {
    await store.send('q', [newMessage({ id: 'm1', type: 'x', data: {} })]);
    start([queue]);
    await scheduler.settle();
    expect(endpoint.ids()).toEqual(['m1']);
    endpoint.calls[0]!.answer({ kind: 'response', statusCode: 200, body: 'ok' });
    await scheduler.settle();
    expect(await statusOf('m1')).toMatchObject({ status: 'delivered', attempts: 1 });
    expect(events.map((e) => e.type)).toEqual(['delivered']);
    expect(dispatcher!.inFlight()).toBe(0);
  });

  it('every attempt of a message without a traceparent joins one trace (new parent id each time); a producer\'s traceparent is kept', async () => {
    const producer = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    await store.send('q', [newMessage({ id: 'm1', type: 'x', data: {} }), newMessage({ id: 'm2', type: 'x', data: {}, metadata: { traceparent: producer } })]);
    start([queue]);
    await scheduler.settle();
    const seen = Object.fromEntries(endpoint.calls.map((c) => [c.call.headers['idempotency-key'], c.call.headers.traceparent])) as Record<string, string | undefined>;
    for (const call of endpoint.calls.splice(0)) call.answer({ kind: 'response', statusCode: 503, body: 'busy' });
    await scheduler.settle();
    await scheduler.advance(queue.maxBackoffMs);
    const byId = (id: string) => endpoint.calls.filter((c) => c.call.headers['idempotency-key'] === id);
    expect(byId('m1')).toHaveLength(1);
    expect(byId('m2')[0]!.call.headers.traceparent).toBe(producer);
    const second = byId('m1')[0]!.call.headers.traceparent!;
    expect(second).toMatch(/^00-[\da-f]{32}-[\da-f]{16}-01$/);
    expect(seen.m1).toBeDefined();
    expect(second.slice(3, 35)).toBe(seen.m1!.slice(3, 35));
    expect(second.slice(36, 52)).not.toBe(seen.m1!.slice(36, 52));
    // Derived from the channel and the message id alone, so it stays the same across instances and releases.
    expect(second.slice(3, 35)).toBe(createHash('sha256').update('q').update('\u0000').update('m1').digest('hex').slice(0, 32));
  });

  it('a drained queue asks the store again only when woken or when an answer made something due', async () => {
    // What the dispatcher asks the store: a claim, the look-ahead after a short one, a settling step.
    const asked: string[] = [];
    const claimOrLookAhead = store.claimOrLookAhead.bind(store);
    const nextWakeAt = store.nextWakeAt.bind(store);
    const settleAndClaim = store.settleAndClaim.bind(store);
    store = Object.assign(Object.create(null) as Store, store, {
      claimOrLookAhead: async (...args: Parameters<Store['claimOrLookAhead']>) => {
        const found = await claimOrLookAhead(...args);
        asked.push('claim', ...(found.nextWakeAt === undefined ? [] : ['next']));
        return found;
      },
      nextWakeAt: (...args: Parameters<Store['nextWakeAt']>) => (asked.push('next'), nextWakeAt(...args)),
      settleAndClaim: async (...args: Parameters<Store['settleAndClaim']>) => {
        asked.push(`settle, claim ${args[1].limit}`);
        const step = await settleAndClaim(...args);
        if (step.nextWakeAt !== undefined) asked.push('next in the step');
        return step;
      },
    });
    await store.send('q', [newMessage({ id: 'm1', type: 'x', data: {} }), newMessage({ id: 'm2', type: 'x', data: {} })]);
    const d = start([queue]);
    await scheduler.settle();
    expect(asked).toEqual(['claim', 'next']); // two of four slots filled: drained
    endpoint.calls[0]!.answer({ kind: 'response', statusCode: 200 });
    await scheduler.settle();
    expect(asked).toEqual(['claim', 'next', 'settle, claim 0']); // delivered: nothing new is due, nothing claimed
    // A send wakes the queue: its message is claimed at once.
    await store.send('q', [newMessage({ id: 'm3', type: 'x', data: {} })]);
    d.wake(['q']);
    await scheduler.settle();
    expect(endpoint.ids()).toEqual(['m1', 'm2', 'm3']);
    expect(asked.slice(3)).toEqual(['claim', 'next']);
    // A failed answer schedules a retry: the queue looks ahead again, and the timer brings it back.
    endpoint.calls[1]!.answer({ kind: 'response', statusCode: 500 });
    await scheduler.settle();
    expect(asked.slice(5)).toEqual(['claim', 'next']);
    await scheduler.advance(1_000);
    expect(endpoint.ids()).toEqual(['m1', 'm2', 'm3', 'm2']);
    // A wake that fills every slot leaves the queue undrained: an answer's step claims what its slot frees.
    await store.send('q', ['m4', 'm5', 'm6'].map((id) => newMessage({ id, type: 'x', data: {} })));
    d.wake(['q']);
    await scheduler.settle();
    expect(asked.slice(9)).toEqual(['claim']);
    endpoint.calls[2]!.answer({ kind: 'response', statusCode: 200 });
    await scheduler.settle();
    expect(asked.slice(10)).toEqual(['settle, claim 1']);
    expect(endpoint.ids()).toEqual(['m1', 'm2', 'm3', 'm2', 'm4', 'm5', 'm6']);
    for (const call of endpoint.calls.slice(3)) call.answer({ kind: 'response', statusCode: 200 });
    await scheduler.settle();
    // Their step came up short: it looked ahead itself, with no store call of its own after it.
    expect(asked.slice(11)).toEqual(['settle, claim 4', 'next in the step']);
    expect(events.filter((e) => e.type === 'retrying')).toHaveLength(1);
    expect(events.filter((e) => e.type === 'delivered')).toHaveLength(6);
    expect(await store.stats()).toContainEqual(expect.objectContaining({ name: 'q', depth: 0, inFlight: 0 }));
  });

  it('a send to an idle queue claims in its own transaction: the call starts with no claim of the dispatcher, and the timer follows its look-ahead', async () => {
    const claims: string[] = [];
    const claimOrLookAhead = store.claimOrLookAhead.bind(store);
    store = Object.assign(Object.create(null) as Store, store, {
      claimOrLookAhead: (...args: Parameters<Store['claimOrLookAhead']>) => (claims.push(args[0].target), claimOrLookAhead(...args)),
    });
    const d = start([queue]);
    store.handOffSends(d.handOff);
    store.onWake((targets) => d.wake(targets));
    await scheduler.settle();
    expect(claims).toEqual(['q']); // the first claim found the queue empty: drained
    await store.send('q', [newMessage({ id: 'm1', type: 'x', data: {} }), newMessage({ id: 'm2', type: 'x', data: {}, deliverAt: clock.now() + 5_000 })]);
    await scheduler.settle();
    expect(endpoint.ids()).toEqual(['m1']);
    expect(claims).toEqual(['q']);
    endpoint.calls[0]!.answer({ kind: 'response', statusCode: 200 });
    await scheduler.settle();
    expect(await statusOf('m1')).toMatchObject({ status: 'delivered', attempts: 1 });
    // m2's due time came back with the send's claim: the timer brings it.
    await scheduler.advance(5_000);
    expect(endpoint.ids()).toEqual(['m1', 'm2']);
    // Sends that fill every slot leave the queue undrained: answers then claim what is left.
    endpoint.calls[1]!.answer({ kind: 'response', statusCode: 200 });
    await scheduler.settle();
    await store.send('q', ['m3', 'm4', 'm5', 'm6', 'm7'].map((id) => newMessage({ id, type: 'x', data: {} })));
    await scheduler.settle();
    expect(endpoint.ids().slice(2)).toEqual(['m3', 'm4', 'm5', 'm6']);
    endpoint.calls[2]!.answer({ kind: 'response', statusCode: 200 });
    await scheduler.settle();
    expect(endpoint.ids().slice(6)).toEqual(['m7']);
    // Stopping: a queue offers nothing.
    const stopped = d.stop(0);
    await scheduler.advance(0);
    await stopped;
    dispatcher = undefined;
    expect(d.handOff.offer('q')).toBeNull();
  });

  it('retries a message when it falls due after every slot was busy and the last step found nothing due (no send wakes it)', async () => {
    await store.send('q', [newMessage({ id: 'a', type: 'x', data: {} }), newMessage({ id: 'b', type: 'x', data: {} })]);
    start([{ ...queue, concurrency: 1 }]);
    await scheduler.settle();
    expect(endpoint.ids()).toEqual(['a']);
    endpoint.calls[0]!.answer({ kind: 'response', statusCode: 429, retryAfter: '1' });
    await scheduler.settle();
    // The slot a's retry freed takes b, which fills it again.
    expect(endpoint.ids()).toEqual(['a', 'b']);
    endpoint.calls[1]!.answer({ kind: 'response', statusCode: 503, retryAfter: '3' });
    await scheduler.settle();
    await scheduler.advance(1_000);
    expect(endpoint.ids()).toEqual(['a', 'b', 'a']);
    // a is delivered; its step finds b not yet due. Nothing else will wake the queue.
    endpoint.calls[2]!.answer({ kind: 'response', statusCode: 200 });
    await scheduler.settle();
    expect(await statusOf('b')).toMatchObject({ status: 'retrying', attempts: 1 });
    await scheduler.advance(2_000);
    expect(endpoint.ids()).toEqual(['a', 'b', 'a', 'b']);
    endpoint.calls[3]!.answer({ kind: 'response', statusCode: 200 });
    await scheduler.settle();
    expect(await statusOf('b')).toMatchObject({ status: 'delivered', attempts: 2 });
  });

  it('brings a timer set for later forward when the last settling step leaves an earlier retry waiting', async () => {
    // b is due in 5 s: the first look-ahead sets a timer for a poll interval (1 s) away.
    await store.send('q', [newMessage({ id: 'b', type: 'x', data: {}, deliverAt: clock.now() + 5_000 })]);
    const d = start([{ ...queue, concurrency: 2, minBackoffMs: 200, maxBackoffMs: 200 }]);
    await scheduler.settle();
    await store.send('q', [newMessage({ id: 'a', type: 'x', data: {} }), newMessage({ id: 'c', type: 'x', data: {} })]);
    d.wake(['q']);
    await scheduler.settle();
    expect(endpoint.ids()).toEqual(['a', 'c']);
    // c is to be retried in 200 ms; the slot it frees takes d at once, which fills both again.
    await store.send('q', [newMessage({ id: 'd', type: 'x', data: {} })]);
    endpoint.calls[1]!.answer({ kind: 'response', statusCode: 500 });
    await scheduler.settle();
    expect(endpoint.ids()).toEqual(['a', 'c', 'd']);
    // a and d are delivered: their steps find nothing due, and c's retry is the next thing.
    endpoint.calls[0]!.answer({ kind: 'response', statusCode: 200 });
    endpoint.calls[2]!.answer({ kind: 'response', statusCode: 200 });
    await scheduler.settle();
    await scheduler.advance(200);
    expect(endpoint.ids()).toEqual(['a', 'c', 'd', 'c']);
    endpoint.calls[3]!.answer({ kind: 'response', statusCode: 200 });
    await scheduler.settle();
  });

  it('renews the lease of a long call so nobody else takes it over', async () => {
    await store.send('q', [newMessage({ id: 'm1', type: 'x', data: {} })]);
    start([queue]);
    await scheduler.settle();
    await scheduler.advance(LOCK * 3); // three leases long: renewals keep it
    expect(await store.claim({ target: 'q', limit: 10, owner: 'other', leaseMs: LOCK })).toEqual([]);
    endpoint.calls[0]!.answer({ kind: 'response', statusCode: 200 });
    await scheduler.settle();
    expect(events.map((e) => e.type)).toEqual(['delivered']);
    expect(endpoint.calls).toHaveLength(1);
  });

  it('aborts a call whose lease was lost; its settlement is fenced and the breaker hears nothing', async () => {
    const verdicts: EndpointVerdict[] = [];
    const gate: DeliveryGate = { permits: () => Infinity, started: () => undefined, record: (_t, v) => void verdicts.push(v), reopensAt: () => null };
    await store.send('q', [newMessage({ id: 'm1', type: 'x', data: {} })]);
    start([queue], gate);
    await scheduler.settle();
    // The process stood still past its lease (the clock moved, no timer ran): another instance takes over.
    clock.advance(LOCK + 1);
    const taken = await store.claim({ target: 'q', limit: 1, owner: 'other', leaseMs: LOCK });
    expect(taken).toHaveLength(1);
    await scheduler.advance(LOCK / 3); // the next renewal finds the lease lost
    expect(endpoint.calls[0]!.call.signal!.aborted).toBe(true);
    expect(events.map((e) => e.type)).toEqual(['fenced']);
    expect(verdicts).toEqual(['untested']);
    expect(await statusOf('m1')).toMatchObject({ status: 'delivering', attempts: 2 });
  });

  it('a renewal while an earlier attempt of the same message is still being saved leaves the new attempt alone', async () => {
    // The failed first attempt's settlement commits, its answer comes back late.
    const hold = holdFirstSettlement();
    await store.send('q', [newMessage({ id: 'm1', type: 'x', data: {} })]);
    start([queue]);
    await scheduler.settle();
    endpoint.calls[0]!.answer({ kind: 'response', statusCode: 500 });
    await scheduler.settle();
    await scheduler.advance(policy.minBackoffMs * 2); // due again, claimed again here, under a new epoch
    expect(endpoint.calls).toHaveLength(2);
    await scheduler.advance(LOCK / 3 + 1); // one renewal holds the old epoch (still being saved) and the new one
    expect(endpoint.calls[1]!.call.signal!.aborted).toBe(false);
    hold.release();
    endpoint.calls[1]!.answer({ kind: 'response', statusCode: 200 });
    await scheduler.settle();
    expect(events.map((e) => e.type)).toEqual(['retrying', 'delivered']);
    expect(endpoint.calls).toHaveLength(2);
    expect(await statusOf('m1')).toMatchObject({ status: 'delivered', attempts: 2 });
  });

  it('cuts a call off just before its lease ends when no renewal gets through (store unreachable), so a takeover never overlaps it', async () => {
    const errors: string[] = [];
    await store.send('q', [newMessage({ id: 'm1', type: 'x', data: {} })]);
    const unreachable: Store = { ...store, renew: () => Promise.reject(new Error('connection terminated')) };
    dispatcher = createDispatcher({ store: unreachable, targets: [queue], send: endpoint.send, clock, scheduler, owner: 'me', random: () => 0, onEvent: (e) => events.push(e), onError: (e) => void errors.push(String(e)) });
    dispatcher.start();
    await scheduler.settle();
    // A tenth of the lease (at most 1 s) before it ends: 29 s into a 30 s lease.
    await scheduler.advance(LOCK - 1_001);
    expect(endpoint.calls[0]!.call.signal!.aborted).toBe(false);
    await scheduler.advance(1);
    expect(endpoint.calls[0]!.call.signal!.aborted).toBe(true);
    await scheduler.settle();
    expect(errors.some((e) => /cut off a call to q: its lease was about to run out/.test(e))).toBe(true);
    expect(events.map((e) => e.type)).toEqual(['retrying']);
    expect((await statusOf('m1')).history).toMatchObject([{ attempt: 1, error: 'cut off: the lease was about to run out and could not be renewed' }]);
  });

  it('a settlement that committed before its answer was lost is reported as what it was, not as fenced', async () => {
    await store.send('q', [newMessage({ id: 'm1', type: 'x', data: {} })]);
    let lost = 1;
    // The first save commits, then the connection drops before its answer arrives.
    const committedThenLost = <A extends unknown[], R>(fn: (...args: A) => Promise<R>) => async (...args: A): Promise<R> => {
      const result = await fn(...args);
      if (lost-- > 0) throw new Error('Connection terminated unexpectedly');
      return result;
    };
    const flaky: Store = { ...store, settle: committedThenLost(store.settle), settleAndClaim: committedThenLost(store.settleAndClaim) };
    dispatcher = createDispatcher({ store: flaky, targets: [queue], send: endpoint.send, clock, scheduler, owner: 'me', random: () => 0, onEvent: (e) => events.push(e) });
    dispatcher.start();
    await scheduler.settle();
    endpoint.calls[0]!.answer({ kind: 'response', statusCode: 200, body: 'ok' });
    await scheduler.advance(1_000);
    expect(events.map((e) => e.type)).toEqual(['delivered']);
    expect(await statusOf('m1')).toMatchObject({ status: 'delivered', attempts: 1, history: [{ attempt: 1, statusCode: 200 }] });
  });

  it('a call that has answered is not cut off while its settlement is being retried; past its lease it is sent again', async () => {
    const errors: string[] = [];
    await store.send('q', [newMessage({ id: 'm1', type: 'x', data: {} })]);
    // Each save hangs for 3 s before it fails: one is still under way when the lease is about to end.
    const slowFailure = () => new Promise<never>((_, reject) => scheduler.timeout(() => reject(new Error('connection terminated')), 3_000));
    const down: Store = { ...store, renew: () => Promise.reject(new Error('connection terminated')), settle: slowFailure, settleAndClaim: slowFailure };
    dispatcher = createDispatcher({ store: down, targets: [queue], send: endpoint.send, clock, scheduler, owner: 'me', random: () => 0, onEvent: (e) => events.push(e), onError: (e) => void errors.push(String(e)) });
    dispatcher.start();
    await scheduler.settle();
    await scheduler.advance(25_000);
    endpoint.calls[0]!.answer({ kind: 'response', statusCode: 200 });
    await scheduler.advance(LOCK);
    expect(errors.filter((e) => /cut off/.test(e))).toEqual([]);
    expect(endpoint.calls.length).toBeGreaterThanOrEqual(2);
    expect(endpoint.calls[1]!.call.headers['idempotency-key']).toBe('m1');
  });

  it('times the cut-off from when the claim was asked for: a slow claim answer does not push it past the lease', async () => {
    await store.send('q', [newMessage({ id: 'm1', type: 'x', data: {} })]);
    // The store leases at once; the first claim's answer takes 3 s to come back (a slow or congested database).
    let claims = 0;
    const slowAnswer = <T>(value: T) => new Promise<T>((resolve) => (claims++ === 0 ? scheduler.timeout(() => resolve(value), 3_000) : resolve(value)));
    const slow: Store = { ...store, claimOrLookAhead: (request) => store.claimOrLookAhead(request).then(slowAnswer), renew: () => Promise.reject(new Error('connection terminated')) };
    dispatcher = createDispatcher({ store: slow, targets: [queue], send: endpoint.send, clock, scheduler, owner: 'me', random: () => 0, onEvent: (e) => events.push(e) });
    dispatcher.start();
    await scheduler.advance(3_000);
    expect(endpoint.calls).toHaveLength(1);
    await scheduler.advance(LOCK - 1_000 - 3_000);
    expect(endpoint.calls[0]!.call.signal!.aborted).toBe(true);
    // Only then can anyone else take it over.
    clock.advance(1_001);
    expect(await store.claim({ target: 'q', limit: 1, owner: 'other', leaseMs: LOCK })).toHaveLength(1);
  });

  it('gives up saving an answer that keeps failing once the lease it had at the answer ends, so the delivery is not held for ever', async () => {
    await store.send('q', [newMessage({ id: 'm1', type: 'x', data: {} })]);
    const failing = () => Promise.reject(new Error('check constraint violated'));
    const broken: Store = { ...store, settle: failing, settleAndClaim: failing };
    const d = createDispatcher({ store: broken, targets: [queue], send: endpoint.send, clock, scheduler, owner: 'me', random: () => 0, onEvent: (e) => events.push(e) });
    dispatcher = d;
    d.start();
    await scheduler.settle();
    endpoint.calls[0]!.answer({ kind: 'response', statusCode: 200 });
    await scheduler.advance(LOCK);
    expect(d.inFlight()).toBe(0);
    // Renewals stopped with it: the lease runs out and the delivery is sent again (at-least-once).
    await scheduler.advance(LOCK * 2);
    expect(endpoint.calls.length).toBeGreaterThanOrEqual(2);
  });

  it('stop past its deadline ends a settlement waiting to be tried again: no timer is left', async () => {
    await store.send('q', [newMessage({ id: 'm1', type: 'x', data: {} })]);
    const failing = () => Promise.reject(new Error('connection terminated'));
    const down: Store = { ...store, settle: failing, settleAndClaim: failing };
    const d = createDispatcher({ store: down, targets: [queue], send: endpoint.send, clock, scheduler, owner: 'me', random: () => 0, onEvent: (e) => events.push(e) });
    d.start();
    await scheduler.settle();
    endpoint.calls[0]!.answer({ kind: 'response', statusCode: 200 });
    await scheduler.advance(10);
    const stopped = d.stop(0);
    await scheduler.advance(0);
    await stopped;
    expect(scheduler.pending()).toBe(0);
    expect(await statusOf('m1')).toMatchObject({ status: 'queued', attempts: 0 });
  });

  it('a renewal that gets through late, before the lease ends, keeps the call running', async () => {
    await store.send('q', [newMessage({ id: 'm1', type: 'x', data: {} })]);
    let renewals = 0;
    const slow: Store = {
      ...store,
      renew: (leases, leaseMs) => {
        renewals++;
        if (renewals === 1) return Promise.reject(new Error('connection terminated'));
        // The second takes 5 s, then renews from when it was sent.
        return new Promise((resolve) => scheduler.timeout(() => resolve(store.renew(leases, leaseMs)), renewals === 2 ? 5_000 : 0));
      },
    };
    dispatcher = createDispatcher({ store: slow, targets: [queue], send: endpoint.send, clock, scheduler, owner: 'me', random: () => 0, onEvent: (e) => events.push(e) });
    dispatcher.start();
    await scheduler.settle();
    await scheduler.advance(LOCK + LOCK / 3);
    expect(endpoint.calls[0]!.call.signal!.aborted).toBe(false);
    endpoint.calls[0]!.answer({ kind: 'response', statusCode: 200 });
    await scheduler.settle();
    expect(events.map((e) => e.type)).toEqual(['delivered']);
  });

  it('saves an answer the store failed to take by trying again while the lease holds: recorded once, not sent again', async () => {
    const errors: string[] = [];
    await store.send('q', [newMessage({ id: 'm1', type: 'x', data: {} })]);
    let failures = 3;
    const flaky = (fn: (...args: never[]) => Promise<unknown>) => (...args: never[]) => (failures-- > 0 ? Promise.reject(new Error('connection terminated')) : fn(...args));
    const dropping: Store = { ...store, settle: flaky(store.settle) as Store['settle'], settleAndClaim: flaky(store.settleAndClaim) as Store['settleAndClaim'] };
    dispatcher = createDispatcher({ store: dropping, targets: [queue], send: endpoint.send, clock, scheduler, owner: 'me', random: () => 0, onEvent: (e) => events.push(e), onError: (e, context) => void errors.push(context) });
    dispatcher.start();
    await scheduler.settle();
    endpoint.calls[0]!.answer({ kind: 'response', statusCode: 200, body: 'ok' });
    await scheduler.advance(1_000);
    expect(events.map((e) => e.type)).toEqual(['delivered']);
    expect(errors.filter((c) => /saving an answer from q/.test(c))).toHaveLength(3);
    expect(await statusOf('m1')).toMatchObject({ status: 'delivered', attempts: 1, history: [{ attempt: 1, statusCode: 200 }] });
    await scheduler.advance(LOCK * 2);
    expect(endpoint.calls).toHaveLength(1);
  });

  it('on stop, lets calls finish until the deadline, then aborts and releases the rest without counting the attempt', async () => {
    await store.send('q', [newMessage({ id: 'm1', type: 'x', data: {} }), newMessage({ id: 'm2', type: 'x', data: {} })]);
    const d = start([queue]);
    await scheduler.settle();
    expect(endpoint.calls).toHaveLength(2);
    let stopped = false;
    const stopping = d.stop(5_000).then(() => (stopped = true));
    endpoint.calls[0]!.answer({ kind: 'response', statusCode: 200 });
    await scheduler.advance(4_999);
    expect(stopped).toBe(false);
    await scheduler.advance(1);
    await stopping;
    dispatcher = undefined;
    const [first, second] = [await statusOf(endpoint.ids()[0]!), await statusOf(endpoint.ids()[1]!)];
    expect(first).toMatchObject({ status: 'delivered', attempts: 1 });
    expect(second).toMatchObject({ status: 'queued', attempts: 0 });
    expect(events.map((e) => e.type)).toEqual(['delivered']);
  });

  it('on stop, waits for a claim under way and gives back what it took untried, so the store can close after it', async () => {
    await store.send('q', [newMessage({ id: 'm1', type: 'x', data: {} }), newMessage({ id: 'm2', type: 'x', data: {} })]);
    const hold = holdFirstCall('claimOrLookAhead');
    const d = start([queue]);
    await scheduler.settle();
    expect(hold.held()).toBe(true);
    expect((await store.getMessage('m1'))[0]!.deliveries[0]).toMatchObject({ status: 'delivering' });
    await stopWaitsFor(d, hold);
    expect(endpoint.calls).toHaveLength(0);
    for (const id of ['m1', 'm2']) expect(await statusOf(id)).toMatchObject({ status: 'queued', attempts: 0 });
    // Given back, not left to its lease: another instance takes both at once.
    const taken = await hold.real.claim({ target: 'q', limit: 10, owner: 'other', leaseMs: LOCK });
    expect(taken.flatMap((c) => c.deliveries.map((x) => x.message.id)).sort()).toEqual(['m1', 'm2']);
    expect(events).toEqual([]);
  });

  it('on stop, waits for a lease renewal under way before it resolves', async () => {
    await store.send('q', [newMessage({ id: 'm1', type: 'x', data: {} })]);
    const hold = holdFirstCall('renew');
    const d = start([queue]);
    await scheduler.settle();
    expect(endpoint.calls).toHaveLength(1);
    await scheduler.advance(LOCK / 3);
    expect(hold.held()).toBe(true);
    endpoint.calls[0]!.answer({ kind: 'response', statusCode: 200 });
    await stopWaitsFor(d, hold);
    expect(await statusOf('m1')).toMatchObject({ status: 'delivered', attempts: 1 });
  });

  it('goes straight on to the next event of a single-lane subscription in one store step', async () => {
    let settleAndClaims = 0;
    const settleAndClaim = store.settleAndClaim.bind(store);
    store = Object.assign(Object.create(null) as Store, store, {
      settleAndClaim: (...args: Parameters<Store['settleAndClaim']>) => {
        settleAndClaims++;
        return settleAndClaim(...args);
      },
    });
    await store.send('t', ['e1', 'e2', 'e3'].map((id) => newMessage({ id, type: 'x', data: {} })));
    start([subscription]);
    await scheduler.settle();
    for (let i = 0; i < 3; i++) {
      expect(endpoint.calls).toHaveLength(i + 1); // one at a time, in order
      endpoint.calls[i]!.answer({ kind: 'response', statusCode: 204 });
      await scheduler.settle();
    }
    expect(endpoint.ids()).toEqual(['e1', 'e2', 'e3']);
    expect(settleAndClaims).toBe(3);
    expect(events.map((e) => e.type)).toEqual(['delivered', 'delivered', 'delivered']);
  });

  it('a fifo queue at concurrency 1 goes from lane to lane in one store step each; at more, the answers of one turn share one step', async () => {
    let settleAndClaims = 0;
    const settleAndClaim = store.settleAndClaim.bind(store);
    store = Object.assign(Object.create(null) as Store, store, {
      settleAndClaim: (...args: Parameters<Store['settleAndClaim']>) => {
        settleAndClaims++;
        return settleAndClaim(...args);
      },
    });
    const fifo = (concurrency: number): FifoTarget => ({ ...policy, kind: 'fifo', name: 'f', ordering: 'key', onExhausted: 'block', concurrency, prefetch: 1 });
    await store.send('f', [['a1', 'a'], ['b1', 'b'], ['a2', 'a']].map(([id, key]) => newMessage({ id: id!, key: key!, type: 'x', data: {} })));
    start([fifo(1)]);
    await scheduler.settle();
    for (let i = 0; i < 3; i++) {
      expect(endpoint.calls).toHaveLength(i + 1); // one at a time
      clock.advance(1); // the lane that moves on is due after the one that waited
      endpoint.calls[i]!.answer({ kind: 'response', statusCode: 204 });
      await scheduler.settle();
    }
    expect(endpoint.ids()).toEqual(['a1', 'b1', 'a2']);
    expect(settleAndClaims).toBe(3);
    const stopped = dispatcher!.stop(0);
    await scheduler.advance(0);
    await stopped;
    await store.send('f', [['a3', 'a'], ['b2', 'b'], ['a4', 'a'], ['b3', 'b']].map(([id, key]) => newMessage({ id: id!, key: key!, type: 'x', data: {} })));
    start([fifo(4)]);
    await scheduler.settle();
    expect(endpoint.ids().slice(3)).toEqual(['a3', 'b2']); // one in flight per key
    clock.advance(1);
    for (const call of endpoint.calls.slice(3)) call.answer({ kind: 'response', statusCode: 204 });
    await scheduler.settle();
    expect(settleAndClaims).toBe(4); // both answers and the next two claims in one step
    expect(endpoint.ids().slice(5).sort()).toEqual(['a4', 'b3']);
    for (const call of endpoint.calls.slice(5)) call.answer({ kind: 'response', statusCode: 204 });
    await scheduler.settle();
    expect(settleAndClaims).toBe(5);
    expect(events.map((e) => e.type)).toEqual(Array.from({ length: 7 }, () => 'delivered'));
    expect(await store.stats()).toContainEqual(expect.objectContaining({ name: 'f', depth: 0, inFlight: 0 }));
  });

  describe('messages claimed ahead (prefetch), sent one call at a time', () => {
    const counting = () => {
      const counts = { claims: 0, settles: 0, settleAndClaims: 0, releases: 0 };
      const real = store;
      store = Object.assign(Object.create(null) as Store, real, {
        claimOrLookAhead: (...args: Parameters<Store['claimOrLookAhead']>) => (counts.claims++, real.claimOrLookAhead(...args)),
        settle: (...args: Parameters<Store['settle']>) => (counts.settles++, real.settle(...args)),
        settleAndClaim: (...args: Parameters<Store['settleAndClaim']>) => (counts.settleAndClaims++, real.settleAndClaim(...args)),
        release: (...args: Parameters<Store['release']>) => (counts.releases++, real.release(...args)),
      });
      return counts;
    };
    const ahead = (prefetch: number): SubscriptionTarget => ({ ...subscription, prefetch });
    const publish = (ids: string[]) => store.send('t', ids.map((id) => newMessage({ id, type: 'x', data: {} })));
    const ok = { kind: 'response', statusCode: 204 } as const;

    it('one claim takes the window; each call starts when the one before is answered; answers are saved together, within 20 ms', async () => {
      const counts = counting();
      await publish(['e1', 'e2', 'e3', 'e4', 'e5']);
      start([ahead(3)]);
      await scheduler.settle();
      expect(counts.claims).toBe(1);
      endpoint.calls[0]!.answer(ok);
      await scheduler.settle();
      expect(endpoint.ids()).toEqual(['e1', 'e2']); // one call at a time, in order
      expect((await statusOf('e1')).status).toBe('delivering');
      await scheduler.advance(20);
      expect((await statusOf('e1')).status).toBe('delivered'); // saved once it waited 20 ms
      expect(counts.settles).toBe(1);
      endpoint.calls[1]!.answer(ok);
      await scheduler.settle();
      endpoint.calls[2]!.answer(ok);
      await scheduler.settle();
      // e2 and e3 saved in the step that claims e4 and e5.
      expect(counts).toEqual({ claims: 1, settles: 1, settleAndClaims: 1, releases: 0 });
      expect(endpoint.ids()).toEqual(['e1', 'e2', 'e3', 'e4']);
      for (const id of ['e2', 'e3']) expect((await statusOf(id)).status).toBe('delivered');
      endpoint.calls[3]!.answer(ok);
      await scheduler.settle();
      endpoint.calls[4]!.answer(ok);
      await scheduler.settle();
      expect(endpoint.ids()).toEqual(['e1', 'e2', 'e3', 'e4', 'e5']);
      // e4 and e5 saved with a claim that found nothing; then one claim finds the subscription empty.
      expect(counts).toEqual({ claims: 2, settles: 1, settleAndClaims: 2, releases: 0 });
      expect(events.map((e) => [e.type, e.ids])).toEqual(['e1', 'e2', 'e3', 'e4', 'e5'].map((id) => ['delivered', [id]]));
      const [e4] = await store.getMessage('e4');
      expect(e4!.deliveries[0]!.attempts).toBe(1);
      expect(await store.stats()).toContainEqual(expect.objectContaining({ name: 't/s', depth: 0, inFlight: 0 }));
    });

    it('a failure sends nothing more of the window: the rest goes back untried and the lane waits at the failed event', async () => {
      const counts = counting();
      await publish(['e1', 'e2', 'e3', 'e4']);
      start([ahead(4)]);
      await scheduler.settle();
      endpoint.calls[0]!.answer(ok);
      await scheduler.settle();
      endpoint.calls[1]!.answer({ kind: 'response', statusCode: 500, body: 'down' });
      // e1 saved, e3 and e4 given back, e2 settled: three store steps one after the other.
      for (let i = 0; i < 10 && events.length < 2; i++) await scheduler.settle();
      expect(endpoint.ids()).toEqual(['e1', 'e2']);
      expect(counts).toMatchObject({ settles: 2, releases: 1 });
      expect((await statusOf('e2')).status).toBe('retrying');
      for (const id of ['e3', 'e4']) expect(await statusOf(id)).toMatchObject({ status: 'queued', attempts: 0 });
      expect(events.map((e) => [e.type, e.ids])).toEqual([['delivered', ['e1']], ['retrying', ['e2']]]);
      // Nothing overtakes e2 while it waits for its retry.
      await scheduler.advance(500);
      expect(endpoint.ids()).toEqual(['e1', 'e2']);
      await scheduler.advance(10_000);
      expect(endpoint.ids()).toEqual(['e1', 'e2', 'e2']);
      const retried = endpoint.calls[2]!.call;
      expect(JSON.parse(retried.body)).toMatchObject({ id: 'e2', deliveryattempt: 2 });
      endpoint.calls[2]!.answer(ok);
      await scheduler.settle();
      expect(JSON.parse(endpoint.calls[3]!.call.body)).toMatchObject({ id: 'e3', deliveryattempt: 1 }); // its attempt was not counted
      endpoint.calls[3]!.answer(ok);
      await scheduler.settle();
      endpoint.calls[4]!.answer(ok);
      await scheduler.settle();
      expect(endpoint.ids()).toEqual(['e1', 'e2', 'e2', 'e3', 'e4']);
    });

    it('a permanent failure stalls the subscription at that event; nothing after it is sent', async () => {
      await publish(['e1', 'e2', 'e3']);
      start([ahead(3)]);
      await scheduler.settle();
      endpoint.calls[0]!.answer({ kind: 'response', statusCode: 400, body: 'bad' });
      await scheduler.settle();
      expect(events).toEqual([expect.objectContaining({ type: 'stalled', ids: ['e1'], newlyBlocked: true })]);
      for (const id of ['e2', 'e3']) expect(await statusOf(id)).toMatchObject({ status: 'queued', attempts: 0 });
      // A stalled lane keeps retrying its head; nothing behind it is sent.
      for (let i = 1; i < 4; i++) {
        await scheduler.advance(10_000);
        expect(endpoint.ids()).toEqual(Array.from({ length: i + 1 }, () => 'e1'));
        endpoint.calls[i]!.answer({ kind: 'response', statusCode: 400, body: 'bad' });
        await scheduler.settle();
      }
    });

    it('a pause on this instance sends nothing after the call under way; resuming goes on from the next event', async () => {
      await publish(['e1', 'e2', 'e3']);
      start([ahead(3)]);
      await scheduler.settle();
      await store.setPaused('t/s', true);
      dispatcher!.hold(['t/s']);
      endpoint.calls[0]!.answer(ok);
      await scheduler.settle();
      await scheduler.advance(5_000);
      expect(endpoint.ids()).toEqual(['e1']);
      expect((await statusOf('e1')).status).toBe('delivered');
      for (const id of ['e2', 'e3']) expect(await statusOf(id)).toMatchObject({ status: 'queued', attempts: 0 });
      await store.setPaused('t/s', false);
      dispatcher!.wake(['t/s']);
      await scheduler.settle();
      expect(endpoint.ids()).toEqual(['e1', 'e2']);
    });

    it('on stop, what was not sent goes back without an attempt counted', async () => {
      await publish(['e1', 'e2', 'e3']);
      start([ahead(3)]);
      await scheduler.settle();
      const stopped = dispatcher!.stop(60_000);
      endpoint.calls[0]!.answer(ok);
      await scheduler.settle();
      await stopped;
      dispatcher = undefined;
      expect(endpoint.ids()).toEqual(['e1']);
      expect((await statusOf('e1')).status).toBe('delivered');
      for (const id of ['e2', 'e3']) expect(await statusOf(id)).toMatchObject({ status: 'queued', attempts: 0 });
    });

    it('a renewal that finds an answer already saved does not cut the next call off', async () => {
      // The first settlement commits, its answer comes late: a renewal in between finds e1 settled.
      const hold = holdFirstSettlement();
      await publish(['e1', 'e2', 'e3']);
      start([ahead(3)]);
      await scheduler.settle();
      endpoint.calls[0]!.answer(ok);
      await scheduler.settle();
      expect(endpoint.ids()).toEqual(['e1', 'e2']);
      await scheduler.advance(LOCK / 3 + 1); // a renewal of e1, e2 and e3 while e1's answer is being saved
      hold.release();
      await scheduler.settle();
      endpoint.calls[1]!.answer(ok);
      await scheduler.settle();
      expect(endpoint.ids()).toEqual(['e1', 'e2', 'e3']);
      endpoint.calls[2]!.answer(ok);
      await scheduler.settle();
      expect(events.map((e) => [e.type, e.ids])).toEqual(['e1', 'e2', 'e3'].map((id) => ['delivered', [id]]));
    });

    it('a fifo key is sent in order, one call at a time, keys side by side; a message not due yet ends the window', async () => {
      const fifo: FifoTarget = { ...policy, kind: 'fifo', name: 'f', ordering: 'key', onExhausted: 'block', concurrency: 4, prefetch: 5 };
      await store.send('f', [['a1', 'a'], ['b1', 'b'], ['a2', 'a'], ['b2', 'b']].map(([id, key]) => newMessage({ id: id!, key: key!, type: 'x', data: {} })));
      await store.send('f', [newMessage({ id: 'a3', key: 'a', type: 'x', data: {}, deliverAt: clock.now() + 60_000 })]);
      start([fifo]);
      await scheduler.settle();
      expect(endpoint.ids().sort()).toEqual(['a1', 'b1']);
      for (const call of [...endpoint.calls]) call.answer(ok);
      await scheduler.settle();
      expect(endpoint.ids().slice(2).sort()).toEqual(['a2', 'b2']);
      for (const call of endpoint.calls.slice(2)) call.answer(ok);
      await scheduler.settle();
      expect(endpoint.ids()).toHaveLength(4); // a3 is not due
      await scheduler.advance(60_000);
      expect(endpoint.ids()[4]).toBe('a3');
      endpoint.calls[4]!.answer(ok);
      await scheduler.settle();
      expect(await store.stats()).toContainEqual(expect.objectContaining({ name: 'f', depth: 0, inFlight: 0 }));
    });
  });

  it('a paused target with work due looks again at the poll interval, not in a loop', async () => {
    let claims = 0;
    const real = store;
    store = Object.assign(Object.create(null) as Store, real, {
      claimOrLookAhead: (...args: Parameters<Store['claimOrLookAhead']>) => {
        if (++claims > 1_000) throw new Error('claiming in a loop');
        return real.claimOrLookAhead(...args);
      },
    });
    await store.send('q', [newMessage({ id: 'm1', type: 'x', data: {} })]);
    await store.send('f', [newMessage({ id: 'f1', key: 'k', type: 'x', data: {} })]);
    await store.setPaused('q', true);
    await store.setPaused('f', true);
    start([queue, { ...policy, kind: 'fifo', name: 'f', ordering: 'key', onExhausted: 'block' }]);
    await scheduler.advance(10_000);
    expect(claims).toBeLessThanOrEqual(2 * 12);
    expect(endpoint.calls).toHaveLength(0);
    await store.setPaused('q', false);
    await store.setPaused('f', false);
    dispatcher!.wake(['q', 'f']);
    await scheduler.settle();
    expect(endpoint.ids().sort()).toEqual(['f1', 'm1']);
  });

  it('holds a target back while its breaker is open, without using attempts, and looks again when it reopens', async () => {
    let open = true;
    const reopensAt = clock.now() + 15_000;
    const gate: DeliveryGate = {
      permits: () => (open ? 0 : Infinity),
      started: () => undefined,
      record: () => undefined,
      reopensAt: () => (open ? reopensAt : null),
    };
    await store.send('q', [newMessage({ id: 'm1', type: 'x', data: {} })]);
    start([queue], gate);
    await scheduler.advance(14_000);
    expect(endpoint.calls).toHaveLength(0);
    expect(await statusOf('m1')).toMatchObject({ status: 'queued', attempts: 0 });
    open = false;
    await scheduler.advance(1_000);
    expect(endpoint.ids()).toEqual(['m1']);
  });

  it('fails a message that cannot be sent permanently, without calling the endpoint, and tells the breaker nothing', async () => {
    const verdicts: EndpointVerdict[] = [];
    const gate: DeliveryGate = { permits: () => Infinity, started: () => undefined, record: (_t, v) => void verdicts.push(v), reopensAt: () => null };
    // Stores refuse such headers now; a message stored before they did still reads back with them.
    await store.send('q', [newMessage({ id: 'm1', type: 'x', data: {} })]);
    const unsendable = (claims: Claim[]) => claims.map((c) => ({ ...c, deliveries: c.deliveries.map((d) => ({ ...d, message: { ...d.message, metadata: { headers: { 'x-a': 'one\r\ntwo' } } } })) }));
    const claimOrLookAhead = store.claimOrLookAhead.bind(store);
    store = Object.assign(Object.create(null) as Store, store, {
      claimOrLookAhead: async (...args: Parameters<Store['claimOrLookAhead']>) => {
        const found = await claimOrLookAhead(...args);
        return { ...found, claims: unsendable(found.claims) };
      },
    });
    start([queue], gate);
    await scheduler.settle();
    expect(endpoint.calls).toHaveLength(0);
    expect(await statusOf('m1')).toMatchObject({ status: 'deadlettered', attempts: 1 });
    expect((await statusOf('m1')).lastError).toMatch(/^permanent failure: request refused before sending: header 'x-a'/);
    expect(verdicts).toEqual(['untested']);
  });

  it('a 202 on a target with asyncTimeout defers the attempt: no settlement until the deadline, then a failed attempt retried by the policy', async () => {
    const async: QueueTarget = { ...queue, asyncTimeoutMs: 5_000 };
    await store.send('q', [newMessage({ id: 'm1', type: 'x', data: {} })]);
    dispatcher = createDispatcher({
      store, targets: [async], send: endpoint.send, clock, scheduler, owner: 'me', random: () => 0, onEvent: (e) => events.push(e),
      completionToken: (lease) => `token-${lease.deliveryId}-${lease.epoch}`,
    });
    dispatcher.start();
    await scheduler.settle();
    expect(endpoint.calls[0]!.call.headers['offload-completion-token']).toBe('token-1-1');
    endpoint.calls[0]!.answer({ kind: 'response', statusCode: 202, body: '' });
    await scheduler.settle();
    expect(dispatcher.inFlight()).toBe(0);
    expect(events.map((e) => [e.type, e.ids, e.statusCode])).toEqual([['deferred', ['m1'], 202]]);
    events.length = 0;
    expect(await statusOf('m1')).toMatchObject({ status: 'delivering', attempts: 1 });
    // Past the call's own lease, short of the deadline: still deferred, not taken over.
    await scheduler.advance(4_000);
    expect(endpoint.calls).toHaveLength(1);
    await scheduler.advance(2_000);
    expect(events.map((e) => [e.type, e.reason, e.statusCode])).toEqual([['retrying', 'asynchronous completion timed out', 202]]);
    await scheduler.advance(1_000);
    expect(endpoint.calls).toHaveLength(2);
    // The retry is a new attempt with a new epoch, so a new token.
    expect(endpoint.calls[1]!.call.headers['offload-completion-token']).toBe('token-1-3');
    endpoint.calls[1]!.answer({ kind: 'response', statusCode: 200, body: 'ok' });
    await scheduler.settle();
    expect(await statusOf('m1')).toMatchObject({ status: 'delivered', attempts: 2 });
    expect((await statusOf('m1')).history.map((a) => a.error)).toEqual(['asynchronous completion timed out', null]);
  });

  it('a deferral timing out past its message\'s expiry dead-letters it as expired instead of retrying', async () => {
    const async: QueueTarget = { ...queue, asyncTimeoutMs: 5_000 };
    await store.send('q', [newMessage({ id: 'm1', type: 'x', data: {}, expiresAt: clock.now() + 5_500 })]);
    dispatcher = createDispatcher({ store, targets: [async], send: endpoint.send, clock, scheduler, owner: 'me', random: () => 0, onEvent: (e) => events.push(e) });
    dispatcher.start();
    await scheduler.settle();
    endpoint.calls[0]!.answer({ kind: 'response', statusCode: 202, body: '' });
    await scheduler.advance(6_000);
    expect(events.map((e) => e.type)).toEqual(['deferred', 'deadlettered']);
    expect(await statusOf('m1')).toMatchObject({ status: 'deadlettered', attempts: 1 });
    expect(endpoint.calls).toHaveLength(1);
  });

  it('a 202 on a target without asyncTimeout is delivered, and no token is sent', async () => {
    await store.send('q', [newMessage({ id: 'm1', type: 'x', data: {} })]);
    dispatcher = createDispatcher({ store, targets: [queue], send: endpoint.send, clock, scheduler, owner: 'me', completionToken: () => 'never' });
    dispatcher.start();
    await scheduler.settle();
    expect(endpoint.calls[0]!.call.headers['offload-completion-token']).toBeUndefined();
    endpoint.calls[0]!.answer({ kind: 'response', statusCode: 202, body: '' });
    await scheduler.settle();
    expect(await statusOf('m1')).toMatchObject({ status: 'delivered', attempts: 1 });
  });
});
