import { describe, expect, it } from 'vitest';
import { backoffDelay, parseRetryAfter } from './retry-policy.js';

const policy = { minBackoffMs: 1_000, maxBackoffMs: 300_000 };
const almostOne = 1 - 2 ** -40;

describe('backoffDelay', () => {
  it.each([
    ['0', () => 0],
    ['0.5', () => 0.5],
    ['0.999…', () => almostOne],
  ])('stays within [min, min(max, min * 2^n)] for n = 1..40 with random() = %s', (_label, random) => {
    for (let n = 1; n <= 40; n++) {
      const delay = backoffDelay(n, policy, random);
      expect(delay).toBeGreaterThanOrEqual(policy.minBackoffMs);
      expect(delay).toBeLessThanOrEqual(Math.min(policy.maxBackoffMs, policy.minBackoffMs * 2 ** n));
      expect(Number.isInteger(delay)).toBe(true);
    }
  });

  it('waits exactly min when random() is 0, whatever the attempt', () => {
    expect([1, 2, 10, 40].map((n) => backoffDelay(n, policy, () => 0))).toEqual([1_000, 1_000, 1_000, 1_000]);
  });

  it('doubles its ceiling with every attempt, then caps at max', () => {
    const delays = Array.from({ length: 12 }, (_, i) => backoffDelay(i + 1, policy, () => almostOne));
    expect(delays).toEqual([2_000, 4_000, 8_000, 16_000, 32_000, 64_000, 128_000, 256_000, 300_000, 300_000, 300_000, 300_000]);
  });

  it('draws uniformly between min and the ceiling (full jitter)', () => {
    expect(backoffDelay(3, policy, () => 0.5)).toBe(4_500);
    expect(backoffDelay(3, policy, () => 0.25)).toBe(2_750);
  });

  it('treats attempt 0 or below as the first retry', () => {
    expect(backoffDelay(0, policy, () => almostOne)).toBe(2_000);
    expect(backoffDelay(-3, policy, () => almostOne)).toBe(2_000);
  });

  it('never exceeds max when min already equals it', () => {
    expect(backoffDelay(5, { minBackoffMs: 500, maxBackoffMs: 500 }, () => almostOne)).toBe(500);
  });
});

describe('parseRetryAfter', () => {
  const now = Date.parse('2024-01-01T00:00:00Z');

  it('reads delay-seconds', () => {
    expect(parseRetryAfter('120', now)).toBe(120_000);
    expect(parseRetryAfter('0', now)).toBe(0);
    expect(parseRetryAfter(' 5 ', now)).toBe(5_000);
  });

  it('reads an HTTP date relative to the given now', () => {
    expect(parseRetryAfter('Mon, 01 Jan 2024 00:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('Mon, 01 Jan 2024 01:00:00 GMT', now)).toBe(3_600_000);
    expect(parseRetryAfter('Mon, 01 Jan 2024 00:00:30 GMT', now + 10_000)).toBe(20_000);
    expect(parseRetryAfter('Monday, 01-Jan-24 00:00:30 GMT', now)).toBe(30_000);
  });

  it('answers 0 for a date in the past', () => {
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:28:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('Sun, 31 Dec 2023 23:59:59 GMT', now)).toBe(0);
  });

  it('answers undefined when absent or unreadable, so ordinary backoff applies', () => {
    for (const value of [undefined, null, '', 'soon', '12abc', '1e3', '-1', '1.5', 'abc 2', 'Mon 2', 'in 5 minutes']) {
      expect(parseRetryAfter(value, now), JSON.stringify(value)).toBeUndefined();
    }
  });
});
