import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { QueueTarget } from '../domain/channel.js';
import { createFakeClock, type FakeClock } from '../domain/clock.js';
import type { EndpointLimits } from '../domain/rate-limit.js';
import { createFakeScheduler, type FakeScheduler } from '../domain/scheduler.js';
import type { Store } from '../storage/port.js';
import { createSqliteStore } from '../storage/sqlite/sqlite-store.js';
import { createEndpointLimiter, type EndpointLimiter } from './endpoint-limits.js';

const LOCK = 3_000;
const target = (name: string): QueueTarget => ({
  kind: 'queue', name, ordering: 'none', url: 'http://127.0.0.1:9/hook', endpoint: 'partner', timeoutMs: 10_000, lockDurationMs: LOCK,
  concurrency: 16, maxAttempts: 3, minBackoffMs: 1_000, maxBackoffMs: 10_000, secrets: [], headers: {},
});
const a = target('a');
const b = target('b');
const ok = { kind: 'response', statusCode: 200 } as const;

/** The store, counting the round trips the limiters make for concurrency slots. */
function counting(store: Store) {
  const calls = { takes: 0, holds: 0 };
  const counted: Store = {
    ...store,
    takeConcurrencySlots: (request) => {
      calls.takes++;
      return store.takeConcurrencySlots(request);
    },
    holdConcurrencySlots: (owner, holdings, ttlMs) => {
      calls.holds++;
      return store.holdConcurrencySlots(owner, holdings, ttlMs);
    },
  };
  return { counted, calls };
}

describe('endpoint concurrency shared by every instance on a store', () => {
  let dir: string;
  let clock: FakeClock;
  let store: Store;
  let calls: { takes: number; holds: number };
  let counted: Store;
  const open: Array<{ limiter: EndpointLimiter; scheduler: FakeScheduler }> = [];

  function instance(owner: string, limits: Partial<EndpointLimits> = {}) {
    const scheduler = createFakeScheduler(clock);
    const woken: string[][] = [];
    const limiter = createEndpointLimiter({
      store: counted, clock, scheduler, owner, targets: [a, b],
      limits: new Map([['partner', { rateLimit: null, maxConcurrency: 3, adaptive: false, ...limits }]]),
      onAvailable: (targets) => woken.push(targets),
    });
    open.push({ limiter, scheduler });
    return { limiter, scheduler, woken };
  }
  const held = async () => (await store.listConcurrencySlots()).map((h) => [h.owner, h.held]);

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'offload-limits-'));
    clock = createFakeClock();
    store = createSqliteStore({ path: join(dir, 'offload.db'), clock });
    await store.migrate();
    ({ counted, calls } = counting(store));
  });
  afterEach(async () => {
    for (const { limiter, scheduler } of open.splice(0)) {
      await limiter.close();
      expect(scheduler.pending()).toBe(0);
    }
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('grants no more than maxConcurrency across instances; a slot one releases goes to the other', async () => {
    const one = instance('one');
    const two = instance('two');
    expect(await one.limiter.acquire(a, 2)).toEqual({ granted: 2, retryAt: null });
    const partial = await two.limiter.acquire(b, 4);
    expect(partial.granted).toBe(1);
    expect(partial.retryAt).toBe(clock.now() + 25);
    expect(await held()).toEqual([['one', 2], ['two', 1]]);
    // Found full less than a poll ago: the store is not asked again.
    const before = calls.takes;
    expect(await two.limiter.acquire(b, 4)).toEqual({ granted: 0, retryAt: clock.now() + 25 });
    expect(calls.takes).toBe(before);
    expect(two.limiter.views()[0]).toMatchObject({ inFlight: 1, inFlightTotal: 3, waitingTargets: ['b'] });

    // A call of `one` ends; nothing of `one` wants the slot, so it goes back to the store shortly.
    one.limiter.finished(a, { startedAt: clock.now(), result: ok });
    await one.scheduler.advance(5);
    expect(await held()).toEqual([['one', 1], ['two', 1]]);
    await two.scheduler.advance(25);
    expect((await two.limiter.acquire(b, 4)).granted).toBe(1);
    expect(await held()).toEqual([['one', 1], ['two', 2]]);
    // Shutting down gives back what it holds and no longer counts as waiting.
    await two.limiter.close();
    expect((await store.listConcurrencySlots()).map((h) => [h.owner, h.held, h.wanted])).toEqual([['one', 1, 0]]);
  });

  it('shares the slots when another instance waits: the holder keeps its share and lets the rest go as its calls end', async () => {
    const one = instance('one');
    const two = instance('two');
    expect((await one.limiter.acquire(a, 3)).granted).toBe(3);
    expect((await two.limiter.acquire(a, 2)).granted).toBe(0);
    expect((await store.listConcurrencySlots()).map((h) => [h.owner, h.held, h.wanted])).toEqual([['one', 3, 0], ['two', 0, 2]]);
    // Within a check-in, `one` learns that `two` waits: its share is 2 of 3.
    await one.scheduler.advance(100);
    one.limiter.finished(a, { startedAt: clock.now(), result: ok });
    expect((await one.limiter.acquire(a, 1)).granted).toBe(0);
    await one.scheduler.advance(5);
    await two.scheduler.advance(25);
    expect((await two.limiter.acquire(a, 2)).granted).toBe(1);
    expect(await held()).toEqual([['one', 2], ['two', 1]]);
    // Once `two` asks for no more than it gets, `one` may grow again.
    two.limiter.finished(a, { startedAt: clock.now(), result: ok });
    await two.scheduler.advance(25);
    expect((await two.limiter.acquire(a, 1)).granted).toBe(1);
    await one.scheduler.advance(100);
    expect(await held()).toEqual([['one', 2], ['two', 1]]);
    expect((await store.listConcurrencySlots()).every((h) => h.wanted === 0)).toBe(true);
  });

  it('hands a slot from a call that ended to the next call of the same instance without a round trip', async () => {
    const one = instance('one');
    expect((await one.limiter.acquire(a, 3)).granted).toBe(3);
    const { takes, holds } = calls;
    for (let i = 0; i < 100; i++) {
      one.limiter.finished(a, { startedAt: clock.now(), result: ok });
      expect((await one.limiter.acquire(b, 1)).granted).toBe(1);
    }
    await one.scheduler.advance(5);
    expect(calls).toEqual({ takes, holds });
    // Claimed fewer than granted: the spare slots are released in one write.
    one.limiter.finished(a, { startedAt: clock.now(), result: ok });
    expect((await one.limiter.acquire(a, 1)).granted).toBe(1);
    one.limiter.giveBack(a, 1);
    one.limiter.finished(b, { startedAt: clock.now(), result: ok });
    await one.scheduler.advance(5);
    expect(calls).toEqual({ takes, holds: holds + 1 });
    expect(await held()).toEqual([['one', 1]]);
  });

  it('renews the holds of a live instance; a crashed one loses its slots after the lock duration', async () => {
    const crashed = instance('crashed');
    const live = instance('live');
    expect((await crashed.limiter.acquire(a, 2)).granted).toBe(2);
    expect((await live.limiter.acquire(a, 1)).granted).toBe(1);
    // Only the live instance's timers run from here on: the other stopped without releasing.
    open.splice(0, 1);
    await live.scheduler.advance(LOCK);
    expect(await held()).toEqual([['live', 1]]);
    expect((await live.limiter.acquire(b, 3)).granted).toBe(2);
    await live.scheduler.advance(2 * LOCK);
    expect(await held()).toEqual([['live', 3]]);
    await live.limiter.close();
    open.splice(0);
    expect(await held()).toEqual([]);
  });

  it('an adaptive cut lowers the limit this instance takes shared slots under', async () => {
    const one = instance('one', { adaptive: true, maxConcurrency: 4 });
    const two = instance('two', { maxConcurrency: 4 });
    expect((await two.limiter.acquire(b, 2)).granted).toBe(2);
    expect((await one.limiter.acquire(a, 2)).granted).toBe(2);
    one.limiter.finished(a, { startedAt: clock.now(), result: { kind: 'response', statusCode: 429 } });
    expect(one.limiter.views()[0]!.currentConcurrency).toBe(1);
    await one.scheduler.advance(5);
    // One call of `one` in flight, its cut is 1: no more while it has one.
    expect((await one.limiter.acquire(a, 1)).granted).toBe(0);
    one.limiter.finished(a, { startedAt: clock.now(), result: ok });
    await one.scheduler.advance(30);
    // `two` holds 2 of its 4, which is already over the cut of `one`: `one` waits for them.
    expect((await one.limiter.acquire(a, 1)).granted).toBe(0);
    two.limiter.finished(b, { startedAt: clock.now(), result: ok });
    two.limiter.finished(b, { startedAt: clock.now(), result: ok });
    await two.scheduler.advance(5);
    await one.scheduler.advance(25);
    expect((await one.limiter.acquire(a, 2)).granted).toBe(1);
  });

  it('keeps counting in memory, without the store, when the endpoint has no maxConcurrency', async () => {
    const one = instance('one', { maxConcurrency: null, rateLimit: null, adaptive: true });
    expect((await one.limiter.acquire(a, 10)).granted).toBe(10);
    expect(calls).toEqual({ takes: 0, holds: 0 });
    expect(one.limiter.views()[0]).toMatchObject({ inFlight: 10, inFlightTotal: null });
  });

  it('an adaptive cut by a 429 that overtook the second\'s successes starts from the calls still in flight, not from nothing', async () => {
    const one = instance('one', { adaptive: true, maxConcurrency: null, rateLimit: { perSecond: 20, burst: 5 } });
    expect((await one.limiter.acquire(a, 5)).granted).toBe(5);
    await one.scheduler.advance(20);
    // The fifth call is refused at once; the other four are being served.
    one.limiter.finished(a, { startedAt: clock.now() - 20, result: { kind: 'response', statusCode: 429 } });
    expect(one.limiter.views()[0]!.currentRate).toBe(2);
  });
});
