import { describe, expect, it } from 'vitest';
import { createFakeClock } from './clock.js';
import { createAdaptiveLimit } from './adaptive-limit.js';

describe('adaptive limit (AIMD)', () => {
  it('is not limited until the first 429/503 when nothing is configured', () => {
    const limit = createAdaptiveLimit({ maxRate: null, maxConcurrency: null });
    expect(limit.state()).toMatchObject({ rate: null, concurrency: null });
    expect(limit.succeeded(1_000)).toBe(false);
  });

  it('cuts by half from the observed rate, once per round', () => {
    const clock = createFakeClock(0);
    const limit = createAdaptiveLimit({ maxRate: null, maxConcurrency: null });
    expect(limit.throttled(clock.now(), { startedAt: 0, acceptedRate: 400, inFlight: 32 })).toBe(true);
    expect(limit.state()).toMatchObject({ rate: 200, concurrency: 16, cuts: 1 });
    // Answers to calls sent before the cut are the same signal.
    clock.advance(10);
    expect(limit.throttled(clock.now(), { startedAt: clock.now() - 15, acceptedRate: 400, inFlight: 32 })).toBe(false);
    // A call sent under the new limit is throttled again: cut again, once the endpoint's window passed.
    expect(limit.throttled(clock.now(), { startedAt: clock.now() - 5, acceptedRate: 400, inFlight: 10 })).toBe(false);
    clock.advance(1_000);
    expect(limit.throttled(clock.now(), { startedAt: clock.now() - 5, acceptedRate: 400, inFlight: 10 })).toBe(true);
    expect(limit.state()).toMatchObject({ rate: 100, concurrency: 5, cuts: 2 });
  });

  it('raises step by step while calls succeed, up to the configured ceiling', () => {
    const clock = createFakeClock(0);
    const limit = createAdaptiveLimit({ maxRate: 50, maxConcurrency: 8 });
    limit.throttled(clock.now(), { startedAt: 0, acceptedRate: 1_000, inFlight: 8 });
    expect(limit.state()).toMatchObject({ rate: 25, concurrency: 4 });
    clock.advance(500);
    expect(limit.succeeded(clock.now())).toBe(false);
    clock.advance(500);
    expect(limit.succeeded(clock.now())).toBe(true);
    expect(limit.state()).toMatchObject({ rate: 30, concurrency: 5 });
    for (let i = 0; i < 20; i++) {
      clock.advance(1_000);
      limit.succeeded(clock.now());
    }
    expect(limit.state()).toMatchObject({ rate: 50, concurrency: 8 });
  });

  it('never cuts below the floor', () => {
    const limit = createAdaptiveLimit({ maxRate: 1, maxConcurrency: 1, minRate: 0.5 });
    for (let i = 0; i < 10; i++) limit.throttled(i * 1_000, { startedAt: i * 1_000, acceptedRate: 1, inFlight: 1 });
    expect(limit.state()).toMatchObject({ rate: 0.5, concurrency: 1 });
  });

  it('converges near an unknown rate an endpoint enforces', () => {
    // Simulated endpoint: accepts 20 calls/s, answers 429 above it.
    const clock = createFakeClock(0);
    const limit = createAdaptiveLimit({ maxRate: null, maxConcurrency: null });
    let throttled = 0;
    const rates: number[] = [];
    let accepted: number[] = [];
    for (let step = 0; step < 60_000; step += 10) {
      clock.set(step);
      const rate = limit.state().rate ?? 1_000;
      const calls = Math.floor(((step + 10) * rate) / 1000) - Math.floor((step * rate) / 1000);
      for (let c = 0; c < calls; c++) {
        accepted = accepted.filter((t) => t > step - 1_000);
        if (accepted.length >= 20) {
          throttled++;
          limit.throttled(step, { startedAt: step, acceptedRate: accepted.length, inFlight: 1 });
        } else {
          accepted.push(step);
          limit.succeeded(step);
        }
      }
      if (step % 1000 === 0) rates.push(limit.state().rate ?? 1_000);
    }
    const tail = rates.slice(-30);
    expect(Math.max(...tail)).toBeLessThanOrEqual(25);
    expect(tail.reduce((a, b) => a + b, 0) / tail.length).toBeGreaterThan(8);
    expect(throttled).toBeLessThan(200);
  });
});
