import { describe, expect, it } from 'vitest';
import { createStyle, formatAge, renderTable } from './format.js';

describe('CLI output', () => {
  it('colours only on a terminal, and never with NO_COLOR or TERM=dumb', () => {
    expect(createStyle({ isTTY: true }, {}).bad('x')).toBe('\u001b[31mx\u001b[39m');
    expect(createStyle({ isTTY: false }, {}).bad('x')).toBe('x');
    expect(createStyle({}, {}).bad('x')).toBe('x');
    expect(createStyle({ isTTY: true }, { NO_COLOR: '1' }).bad('x')).toBe('x');
    expect(createStyle({ isTTY: true }, { TERM: 'dumb' }).bad('x')).toBe('x');
  });

  it('aligns columns on the plain text, numbers to the right, and cuts the last column to the width', () => {
    const style = createStyle({ isTTY: true }, {});
    const rows = [
      { name: 'a', n: 5, why: 'short' },
      { name: 'longer', n: 1234, why: 'a reason much longer than the room left on the line' },
    ];
    const table = renderTable(rows, [
      { header: 'NAME', value: (r) => r.name, colour: (_r, t) => style.bad(t) },
      { header: 'N', value: (r) => String(r.n), align: 'right' },
      { header: 'WHY', value: (r) => r.why },
    ], createStyle({}, {}), 30);
    // eslint-disable-next-line no-control-regex
    const plain = table.replace(/\u001b\[\d+m/g, '').split('\n');
    expect(plain).toEqual(['NAME       N  WHY', 'a          5  short', 'longer  1234  a reason much l…']);
    expect(table).toContain('\u001b[31ma     \u001b[39m');
  });

  it('writes ages the short way', () => {
    expect([formatAge(850), formatAge(12_400), formatAge(184_000), formatAge(7_500_000), formatAge(3 * 86_400_000 + 4 * 3_600_000), formatAge(null)]).toEqual([
      '850ms', '12s', '3m 04s', '2h 05m', '3d 04h', '-',
    ]);
  });
});
