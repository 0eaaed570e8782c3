import { describe, expect, it } from 'vitest';
import { createLogThrottle, errorKey } from './log-throttle.js';

describe('repeated identical errors are logged once per interval with a count', () => {
  it('logs the first, counts the rest, and summarizes when the interval is over', () => {
    let now = 0;
    const lines: string[] = [];
    const logger = { error: (_f: object, m: string) => void lines.push(`error ${m}`), warn: (_f: object, m: string) => void lines.push(`warn ${m}`) };
    const throttle = createLogThrottle(logger as never, { intervalMs: 10_000, now: () => now });
    const full = new Error('the SQLite store failed (SQLITE_FULL): database or disk is full');
    for (let i = 0; i < 1_000; i++) throttle.error(errorKey('request', full), {}, full.message);
    throttle.warn(errorKey('claim', new Error('timeout after 5000ms')), {}, 'store error while claiming');
    throttle.warn(errorKey('claim', new Error('timeout after 7000ms')), {}, 'store error while claiming');
    expect(lines).toEqual([`error ${full.message}`, 'warn store error while claiming']);
    now = 10_000;
    throttle.error(errorKey('request', full), {}, full.message);
    expect(lines.slice(2)).toEqual([`error ${full.message} (repeated 999 more times in 10s)`, `error ${full.message}`]);
    throttle.close();
    expect(lines.slice(4)).toEqual(['warn store error while claiming (repeated 1 more times in 10s)']);
  });
});
