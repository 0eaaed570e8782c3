import { describe, expect, it } from 'vitest';
import { matchesFilter, patternListProblem, patternProblem } from './subscription-filter.js';

describe('matchesFilter', () => {
  it('passes everything without a filter', () => {
    expect(matchesFilter(null, 'Anything', null)).toBe(true);
  });

  it.each([
    ['OrderPlaced', 'OrderPlaced', true],
    ['OrderPlaced', 'OrderPlacedX', false],
    ['Order*', 'Order', true],
    ['Order*', 'OrderShipped', true],
    ['Order*', 'order', false],
    ['*Placed', 'OrderPlaced', true],
    ['O*r*d', 'OrderPlaced', true],
    ['O*r*d', 'OrderPlacedX', false],
    ['a*a', 'a', false],
    ['a*a', 'aa', true],
    ['*', '', true],
    ['a?b', 'axb', false],
    ['a?b', 'a?b', true],
    ['a_b%', 'aXbY', false],
    ['a_b%', 'a_b%', true],
  ])('type pattern %s on %s: %s', (pattern, type, expected) => {
    expect(matchesFilter({ types: [pattern] }, type, null)).toBe(expected);
  });

  it('needs a type match, and a key match when keys are given (no key: no match)', () => {
    const filter = { types: ['Order*', 'Refund'], keys: ['eu-*', 'gb'] };
    expect(matchesFilter(filter, 'Refund', 'gb')).toBe(true);
    expect(matchesFilter(filter, 'OrderPlaced', 'eu-1')).toBe(true);
    expect(matchesFilter(filter, 'OrderPlaced', 'us-1')).toBe(false);
    expect(matchesFilter(filter, 'OrderPlaced', null)).toBe(false);
    expect(matchesFilter(filter, 'UserCreated', 'gb')).toBe(false);
    expect(matchesFilter({ types: ['*'] }, 'UserCreated', null)).toBe(true);
  });
});

describe('pattern problems', () => {
  it('refuses empty and oversized lists and patterns, and spaces or non-ASCII', () => {
    expect(patternListProblem([])).toMatch(/at least one/);
    expect(patternListProblem(Array.from({ length: 101 }, () => 'a'))).toBe('at most 100 patterns');
    expect(patternListProblem(['a'])).toBeNull();
    expect(patternProblem('')).toMatch(/empty/);
    expect(patternProblem('x'.repeat(201))).toMatch(/at most 200/);
    expect(patternProblem('Order Placed')).toMatch(/printable ASCII/);
    expect(patternProblem('Bestellung-é')).toMatch(/printable ASCII/);
    expect(patternProblem('Order*')).toBeNull();
  });
});
