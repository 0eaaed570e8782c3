import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { QueueTarget } from '../domain/channel.js';
import { createFakeClock, type FakeClock } from '../domain/clock.js';
import type { Store } from '../storage/port.js';
import { createSqliteStore } from '../storage/sqlite/sqlite-store.js';
import { createBreakerGate, type BreakerGate } from './breakers.js';

const target: QueueTarget = {
  kind: 'queue', name: 'q', ordering: 'none', url: 'http://127.0.0.1:9/hook', endpoint: 'sink', timeoutMs: 1_000, lockDurationMs: 1_000,
  concurrency: 4, maxAttempts: 3, minBackoffMs: 10, maxBackoffMs: 100, secrets: [], headers: {},
};
const policy = { consecutiveFailures: 3, failureRate: 1, windowMs: 10_000, minimumCalls: 100, coolDownMs: 5_000 };

describe('breaker gate: what each verdict does', () => {
  let clock: FakeClock;
  let store: Store;
  let gate: BreakerGate;

  beforeEach(() => {
    clock = createFakeClock();
    store = createSqliteStore({ path: ':memory:', clock });
    gate = createBreakerGate({ store, clock, targets: [target], policyFor: () => policy });
  });
  afterEach(() => store.close());

  const state = () => gate.views()[0]!.state;
  const openAndWait = () => {
    for (let i = 0; i < 3; i++) gate.record(target, 'failure');
    expect(state()).toBe('open');
    clock.advance(5_000);
    gate.started(target, 1);
    expect(gate.permits(target)).toBe(0);
  };

  it('never opens on untested or neutral outcomes, however many', () => {
    for (let i = 0; i < 100; i++) gate.record(target, i % 2 ? 'untested' : 'neutral');
    expect(state()).toBe('closed');
  });

  it('does not let untested or neutral outcomes hide failures in a row', () => {
    gate.record(target, 'failure');
    gate.record(target, 'untested');
    gate.record(target, 'failure');
    gate.record(target, 'neutral');
    gate.record(target, 'failure');
    expect(state()).toBe('open');
  });

  it('lets another probe go when a probe reached nothing', () => {
    openAndWait();
    gate.record(target, 'untested');
    expect(state()).toBe('half-open');
    expect(gate.permits(target)).toBe(1);
  });

  it('closes when a probe is answered, even with a 4xx', () => {
    openAndWait();
    gate.record(target, 'neutral');
    expect(state()).toBe('closed');
  });
});
