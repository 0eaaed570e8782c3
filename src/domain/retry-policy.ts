import type { Random } from './clock.js';

export interface BackoffPolicy {
  minBackoffMs: number;
  maxBackoffMs: number;
}

/**
 * Exponential backoff with full jitter, kept between the policy's bounds: the n-th retry waits a
 * uniformly random time in [min, min(max, min * 2^n)]. Jitter spreads the retries of many
 * messages that failed together so a recovering endpoint is not hit by a synchronized wave.
 */
export function backoffDelay(attempt: number, policy: BackoffPolicy, random: Random): number {
  const { minBackoffMs: min, maxBackoffMs: max } = policy;
  const exponent = Math.min(Math.max(attempt, 1), 30);
  const ceiling = Math.min(max, min * 2 ** exponent);
  return Math.round(min + random() * Math.max(0, ceiling - min));
}

/**
 * The three HTTP-date forms (RFC 9110: IMF-fixdate, RFC 850, asctime) start with a day name and
 * carry a time of day. Checked before Date.parse, which also reads text such as `-1` or `1.5` as
 * dates in the distant past and would turn a garbled header into an immediate retry.
 */
const HTTP_DATE = /^(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*,?\s.*\b\d{2}:\d{2}:\d{2}\b/i;

/**
 * Parses a Retry-After header: delay-seconds or an HTTP date. Returns the delay in ms, or
 * undefined when absent or unreadable (then ordinary backoff applies).
 */
export function parseRetryAfter(value: string | undefined | null, now: number): number | undefined {
  if (value == null) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1_000;
  if (!HTTP_DATE.test(text)) return undefined;
  const date = Date.parse(text);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}
