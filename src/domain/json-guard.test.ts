import { describe, expect, it } from 'vitest';
import { guardJson } from './json-guard.js';

describe('guardJson', () => {
  it('counts nesting outside strings and stops at the first level past the limit', () => {
    expect(guardJson('1', 0)).toEqual({ ok: true, depth: 0 });
    expect(guardJson('{"a":[{"b":[]}]}', 4)).toEqual({ ok: true, depth: 4 });
    expect(guardJson('{"a":[{"b":[]}]}', 3)).toEqual({ ok: false, reason: 'depth', depth: 4 });
    expect(guardJson('["[[[[\\"[[[", {}]', 2)).toEqual({ ok: true, depth: 2 });
    expect(guardJson('['.repeat(5_000_000), 64)).toEqual({ ok: false, reason: 'depth', depth: 65 });
  });

  it('reports numbers a double cannot hold', () => {
    expect(guardJson('[1e308, -1.5e-320, 123456789012345678901234567890]', 5).ok).toBe(true);
    expect(guardJson('[1e309]', 5)).toEqual({ ok: false, reason: 'number', token: '1e309' });
    expect(guardJson(`{"n":-${'9'.repeat(400)}}`, 5)).toMatchObject({ ok: false, reason: 'number' });
    expect(guardJson('{"s":"1e999"}', 5).ok).toBe(true);
  });
});
