import { describe, expect, it } from 'vitest';
import {
  always,
  byProbability,
  createFaultSwitch,
  createSeededRandom,
  firstAttempts,
  firstOf,
  forIds,
  forKeys,
  scripted,
  until,
} from './deciders.js';
import type { Fault } from './faults.js';
import type { ReceivedRequest } from './request-record.js';

const fail: Fault = { kind: 'status', status: 500 };
const reset: Fault = { kind: 'reset' };

let index = 0;
function req(ids: string[], key?: string, target = '/t'): ReceivedRequest {
  return {
    index: index++,
    method: 'POST',
    path: target,
    target,
    headers: {},
    body: '',
    events: ids.map((id) => ({ id, key })),
    startedAt: 0,
  };
}

describe('deciders', () => {
  it('createSeededRandom is reproducible and spread over [0, 1)', () => {
    const a = createSeededRandom(7);
    const b = createSeededRandom(7);
    const draws = Array.from({ length: 1000 }, () => a());
    expect(draws.slice(0, 5)).toEqual(Array.from({ length: 5 }, () => b()));
    expect(Math.min(...draws)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...draws)).toBeLessThan(1);
    expect(draws.filter((x) => x < 0.5).length).toBeGreaterThan(400);
    expect(createSeededRandom(8)()).not.toBe(createSeededRandom(7)());
  });

  it('forIds and forKeys match any event of a batch; always can be narrowed by target', () => {
    expect(forIds(['x'], fail)(req(['a', 'x']))).toBe(fail);
    expect(forIds(['x'], fail)(req(['a']))).toBeUndefined();
    expect(forKeys(['k'], fail)(req(['a'], 'k'))).toBe(fail);
    expect(forKeys(['k'], fail)(req(['a']))).toBeUndefined();
    expect(always(fail, { targets: ['/other'] })(req(['a']))).toBeUndefined();
    expect(always(fail)(req(['a']))).toBe(fail);
  });

  it('firstOf takes the first rule with an opinion', () => {
    const decide = firstOf(forIds(['x'], reset), forKeys(['k'], fail));
    expect(decide(req(['x'], 'k'))).toBe(reset);
    expect(decide(req(['y'], 'k'))).toBe(fail);
    expect(decide(req(['y']))).toBeUndefined();
  });

  it('firstAttempts fails the first n requests of each id', () => {
    const decide = firstAttempts(2, fail, { ids: ['a', 'b'] });
    expect([1, 2, 3].map(() => decide(req(['a'])))).toEqual([fail, fail, undefined]);
    expect(decide(req(['b']))).toBe(fail);
    expect(decide(req(['c']))).toBeUndefined();
  });

  it('byProbability is reproducible from its seed and roughly honours the probabilities', () => {
    const draw = (seed: number) => {
      const decide = byProbability({ seed, faults: [{ probability: 0.2, fault: fail }, { probability: 0.1, fault: reset }] });
      return Array.from({ length: 2000 }, () => decide(req(['a']))?.kind ?? 'ok');
    };
    const first = draw(3);
    expect(draw(3)).toEqual(first);
    const share = (kind: string) => first.filter((k) => k === kind).length / first.length;
    expect(share('status')).toBeGreaterThan(0.15);
    expect(share('status')).toBeLessThan(0.25);
    expect(share('reset')).toBeGreaterThan(0.06);
    expect(share('reset')).toBeLessThan(0.14);
    expect(() => byProbability({ seed: 1, faults: [{ probability: 0.7, fault: fail }, { probability: 0.7, fault: reset }] })).toThrow(
      RangeError,
    );
  });

  it('until holds a fault up to a deadline on the given clock', () => {
    let now = 100;
    const decide = until(200, fail, { ids: ['a'], now: () => now });
    expect(decide(req(['a']))).toBe(fail);
    expect(decide(req(['b']))).toBeUndefined();
    now = 200;
    expect(decide(req(['a']))).toBeUndefined();
  });

  it('scripted plays its faults in turn, then falls through', () => {
    const decide = scripted([fail, reset]);
    expect([decide(req(['a'])), decide(req(['a'])), decide(req(['a']))]).toEqual([fail, reset, undefined]);
  });

  it('createFaultSwitch holds a fault until released and can be engaged again', () => {
    const faultSwitch = createFaultSwitch(fail, { ids: ['a'] });
    expect(faultSwitch.decide(req(['a']))).toBe(fail);
    faultSwitch.release();
    expect(faultSwitch.engaged).toBe(false);
    expect(faultSwitch.decide(req(['a']))).toBeUndefined();
    faultSwitch.engage();
    expect(faultSwitch.decide(req(['a']))).toBe(fail);
    expect(faultSwitch.decide(req(['b']))).toBeUndefined();
  });
});
