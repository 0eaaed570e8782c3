import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from './duration.js';

describe('parseDuration', () => {
  it.each([
    ['250ms', 250],
    ['30s', 30_000],
    ['5m', 300_000],
    ['2h', 7_200_000],
    ['1d', 86_400_000],
    ['1.5s', 1_500],
    ['0ms', 0],
    [' 10s ', 10_000],
  ])('%s is %i ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it('takes numbers as milliseconds', () => {
    expect(parseDuration(0)).toBe(0);
    expect(parseDuration(1_500)).toBe(1_500);
  });

  it.each(['', 'soon', '5', 'ms', '-5s', '5S', '5 minutes', '1e3ms', '5m30s'])('refuses %j', (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });

  it('refuses negative and non-finite numbers', () => {
    expect(parseDuration(-1)).toBeUndefined();
    expect(parseDuration(Number.NaN)).toBeUndefined();
    expect(parseDuration(Number.POSITIVE_INFINITY)).toBeUndefined();
  });
});

describe('formatDuration', () => {
  it('uses the largest whole unit', () => {
    expect([250, 1_000, 90_000, 300_000, 7_200_000, 86_400_000, 1_500, 0].map(formatDuration)).toEqual(['250ms', '1s', '90s', '5m', '2h', '1d', '1500ms', '0ms']);
  });

  it('round-trips through parseDuration', () => {
    for (const ms of [0, 1, 250, 1_000, 61_000, 300_000, 3_600_000, 172_800_000]) expect(parseDuration(formatDuration(ms))).toBe(ms);
  });
});
