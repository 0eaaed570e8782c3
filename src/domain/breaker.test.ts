import { describe, expect, it } from 'vitest';
import { createCircuitBreaker, PROBE_GRACE_MS } from './breaker.js';
import { createFakeClock } from './clock.js';

const policy = { consecutiveFailures: 3, failureRate: 0.5, windowMs: 10_000, minimumCalls: 6, coolDownMs: 5_000 };

describe('circuit breaker', () => {
  it('opens after consecutive failures, blocks calls for the cool-down, then lets one probe through', () => {
    const clock = createFakeClock();
    const breaker = createCircuitBreaker(policy);
    expect(breaker.permits(clock.now())).toBe(Infinity);
    expect(breaker.record(false, clock.now())).toBeNull();
    expect(breaker.record(false, clock.now())).toBeNull();
    expect(breaker.record(false, clock.now())).toEqual({ from: 'closed', to: 'open', reason: '3 consecutive failures' });
    expect(breaker.permits(clock.now())).toBe(0);
    clock.advance(4_999);
    expect(breaker.state(clock.now())).toBe('open');
    clock.advance(1);
    expect(breaker.state(clock.now())).toBe('half-open');
    expect(breaker.permits(clock.now())).toBe(1);
    breaker.started(1, clock.now());
    expect(breaker.permits(clock.now())).toBe(0);
    expect(breaker.record(true, clock.now())).toEqual({ from: 'half-open', to: 'closed', reason: 'probe succeeded' });
    expect(breaker.permits(clock.now())).toBe(Infinity);
  });

  it('lets another probe go when one ended without telling whether the endpoint works', () => {
    const clock = createFakeClock();
    const breaker = createCircuitBreaker(policy);
    for (let i = 0; i < 3; i++) breaker.record(false, clock.now());
    clock.advance(5_000);
    breaker.started(1, clock.now());
    expect(breaker.permits(clock.now())).toBe(0);
    breaker.release(clock.now());
    expect(breaker.state(clock.now())).toBe('half-open');
    expect(breaker.permits(clock.now())).toBe(1);
  });

  it('reopens when the probe fails', () => {
    const clock = createFakeClock();
    const breaker = createCircuitBreaker(policy);
    for (let i = 0; i < 3; i++) breaker.record(false, clock.now());
    clock.advance(5_000);
    breaker.started(1, clock.now());
    expect(breaker.record(false, clock.now())).toMatchObject({ from: 'half-open', to: 'open' });
    expect(breaker.openUntil()).toBe(clock.now() + 5_000);
  });

  it('opens on the failure rate in the window once enough calls were seen', () => {
    const clock = createFakeClock();
    const breaker = createCircuitBreaker(policy);
    const outcomes = [true, false, true, false, true];
    for (const ok of outcomes) expect(breaker.record(ok, clock.now())).toBeNull();
    expect(breaker.record(false, clock.now())).toMatchObject({ to: 'open', reason: '3 of the last 6 calls failed' });
  });

  it('forgets outcomes older than the window', () => {
    const clock = createFakeClock();
    const breaker = createCircuitBreaker(policy);
    for (const ok of [false, true, false, true, false]) breaker.record(ok, clock.now());
    clock.advance(10_001);
    expect(breaker.record(true, clock.now())).toBeNull();
    expect(breaker.state(clock.now())).toBe('closed');
  });

  it('ignores late answers while open and adopts state shared by other instances', () => {
    const clock = createFakeClock();
    const breaker = createCircuitBreaker(policy);
    expect(breaker.adopt('open', clock.now() + 2_000, clock.now())).toMatchObject({ from: 'closed', to: 'open' });
    expect(breaker.record(false, clock.now())).toBeNull();
    expect(breaker.adopt('open', clock.now() + 1_000, clock.now())).toBeNull();
    expect(breaker.adopt('closed', null, clock.now())).toMatchObject({ to: 'closed' });
    expect(breaker.adopt('open', clock.now() - 1, clock.now())).toBeNull();
  });

  it('keeps exact counts over a long stream of calls as the window slides', () => {
    const clock = createFakeClock();
    const breaker = createCircuitBreaker({ consecutiveFailures: 1_000, failureRate: 0.5, windowMs: 1_000, minimumCalls: 10, coolDownMs: 1_000 });
    // 5,000 calls, one every 10ms, every third failing: the rate stays near 1/3, never opens.
    for (let i = 0; i < 5_000; i++) {
      expect(breaker.record(i % 3 !== 0, clock.now())).toBeNull();
      clock.advance(10);
    }
    // Then failures only: the window (100 calls) reaches half failures after 34 or so more.
    let opened = -1;
    for (let i = 0; i < 100 && opened < 0; i++) {
      if (breaker.record(false, clock.now())) opened = i;
      clock.advance(10);
    }
    expect(opened).toBeGreaterThan(20);
    expect(opened).toBeLessThan(40);
  });

  it('after a failed probe, offers the next one to the origin\'s other targets first (poison in one queue does not take every probe)', () => {
    const clock = createFakeClock();
    const breaker = createCircuitBreaker(policy);
    for (let i = 0; i < 3; i++) breaker.record(false, clock.now());
    clock.advance(5_000);
    // Half-open: the poison queue asks first and gets the probe; it fails.
    expect(breaker.permits(clock.now(), 'poison')).toBe(1);
    breaker.started(1, clock.now(), 'poison');
    expect(breaker.record(false, clock.now())).toMatchObject({ from: 'half-open', to: 'open', reason: 'probe failed' });
    clock.advance(5_000);
    // The next half-open: the poison queue waits PROBE_GRACE_MS, and is told when to ask again.
    expect(breaker.permits(clock.now(), 'poison')).toBe(0);
    expect(breaker.openUntil('poison')).toBe(clock.now() + PROBE_GRACE_MS);
    expect(breaker.openUntil('victim')).toBe(clock.now());
    expect(breaker.permits(clock.now(), 'victim')).toBe(1);
    breaker.started(1, clock.now(), 'victim');
    expect(breaker.record(true, clock.now())).toMatchObject({ to: 'closed' });
    expect(breaker.permits(clock.now(), 'poison')).toBe(Number.POSITIVE_INFINITY);
  });

  it('lets the target whose probe failed probe again when no other target asks within the grace', () => {
    const clock = createFakeClock();
    const breaker = createCircuitBreaker(policy);
    for (let i = 0; i < 3; i++) breaker.record(false, clock.now());
    clock.advance(5_000);
    breaker.started(1, clock.now(), 'only');
    breaker.record(false, clock.now());
    clock.advance(5_000 + PROBE_GRACE_MS - 1);
    expect(breaker.permits(clock.now(), 'only')).toBe(0);
    clock.advance(1);
    expect(breaker.permits(clock.now(), 'only')).toBe(1);
  });

  it('does not open for failures confined to one target while another target of the origin works; opens when both fail', () => {
    const clock = createFakeClock();
    const breaker = createCircuitBreaker(policy);
    breaker.record(true, clock.now(), 'victim');
    for (let i = 0; i < 10; i++) expect(breaker.record(false, clock.now(), 'poison')).toBeNull();
    expect(breaker.state(clock.now())).toBe('closed');
    // The other target fails too: the endpoint is down.
    expect(breaker.record(false, clock.now(), 'victim')).toMatchObject({ to: 'open' });
  });

  it('opens for one target\'s failures once no other target has succeeded within the window', () => {
    const clock = createFakeClock();
    const breaker = createCircuitBreaker(policy);
    breaker.record(true, clock.now(), 'victim');
    clock.advance(policy.windowMs + 1);
    breaker.record(false, clock.now(), 'poison');
    breaker.record(false, clock.now(), 'poison');
    expect(breaker.record(false, clock.now(), 'poison')).toMatchObject({ to: 'open', reason: '3 consecutive failures' });
  });

  it('never opens on a success, even in a window of failures', () => {
    const clock = createFakeClock();
    const breaker = createCircuitBreaker({ ...policy, consecutiveFailures: 1_000 });
    for (let i = 0; i < 5; i++) breaker.record(false, clock.now(), 'a');
    breaker.record(true, clock.now(), 'b');
    // Six calls, five failed: over the rate, yet the success that made six does not open it.
    expect(breaker.state(clock.now())).toBe('closed');
    expect(breaker.record(false, clock.now(), 'b')).toMatchObject({ to: 'open' });
  });
});
