/** Terminal output for the CLI: aligned tables, short ages, colour only on a terminal. */

export interface Style {
  readonly good: (text: string) => string;
  readonly warn: (text: string) => string;
  readonly bad: (text: string) => string;
  readonly dim: (text: string) => string;
  readonly bold: (text: string) => string;
}

const ansi = (open: number, close: number) => (text: string) => `\u001b[${open}m${text}\u001b[${close}m`;
const plain = (text: string) => text;

/** Colour when stdout is a terminal and NO_COLOR is not set (https://no-color.org). */
export function createStyle(stream: { isTTY?: boolean } = process.stdout, env: NodeJS.ProcessEnv = process.env): Style {
  const on = Boolean(stream.isTTY) && !env.NO_COLOR && env.TERM !== 'dumb';
  if (!on) return { good: plain, warn: plain, bad: plain, dim: plain, bold: plain };
  return { good: ansi(32, 39), warn: ansi(33, 39), bad: ansi(31, 39), dim: ansi(2, 22), bold: ansi(1, 22) };
}

export interface Column<T> {
  readonly header: string;
  readonly value: (row: T) => string;
  readonly align?: 'left' | 'right';
  /** Colours the padded cell; widths are computed on the plain text. */
  readonly colour?: (row: T, text: string) => string;
}

/**
 * Columns separated by two spaces. The last column is not padded (it may be long, e.g. a
 * reason) and, given a terminal `width`, is cut so that every row stays on one line.
 */
export function renderTable<T>(rows: readonly T[], columns: ReadonlyArray<Column<T>>, style: Style, width = 0): string {
  const cells = rows.map((row) => columns.map((c) => oneLine(c.value(row))));
  const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map((r) => r[i]!.length)));
  const last = columns.length - 1;
  const offset = widths.slice(0, last).reduce((sum, w) => sum + w + 2, 0);
  if (width > 0 && columns[last]!.align !== 'right') for (const r of cells) r[last] = cut(r[last]!, width - offset);
  const pad = (text: string, i: number) => {
    if (i === columns.length - 1 && columns[i]!.align !== 'right') return text;
    return columns[i]!.align === 'right' ? text.padStart(widths[i]!) : text.padEnd(widths[i]!);
  };
  const header = style.bold(columns.map((c, i) => pad(c.header, i)).join('  '));
  const body = cells.map((r, n) =>
    r
      .map((text, i) => {
        const padded = pad(text, i);
        const colour = columns[i]!.colour;
        return colour ? colour(rows[n]!, padded) : padded;
      })
      .join('  '),
  );
  return [header, ...body].join('\n');
}

/** `key: value` lines with the keys aligned. */
export function renderFields(fields: ReadonlyArray<readonly [string, string]>, style: Style): string {
  const width = Math.max(...fields.map(([k]) => k.length));
  return fields.map(([k, v]) => `${style.dim(`${k}:`.padEnd(width + 1))} ${v}`).join('\n');
}

/** 850ms, 12s, 3m 04s, 2h 05m, 3d 04h. */
export function formatAge(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '-';
  if (ms < 1000) return `${Math.max(0, Math.round(ms))}ms`;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  const two = (n: number) => String(n).padStart(2, '0');
  if (s < 3600) return `${Math.floor(s / 60)}m ${two(s % 60)}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ${two(Math.floor((s % 3600) / 60))}m`;
  return `${Math.floor(s / 86_400)}d ${two(Math.floor((s % 86_400) / 3600))}h`;
}

/** Age of an ISO timestamp relative to now. */
export function ageOf(iso: unknown, now: number): string {
  return typeof iso === 'string' ? formatAge(now - Date.parse(iso)) : '-';
}

export function formatCount(n: unknown): string {
  return typeof n === 'number' ? String(n) : '-';
}

/** Control characters (a reason may hold a response body) would break the line. */
export function oneLine(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f]+/g, ' ');
}

function cut(text: string, room: number): string {
  if (room < 8 || text.length <= room) return text;
  return `${text.slice(0, room - 1)}…`;
}

/** The terminal's width, or 0 (no limit) when stdout is not a terminal. */
export function terminalWidth(stream: { isTTY?: boolean; columns?: number } = process.stdout): number {
  return stream.isTTY ? (stream.columns ?? 0) : 0;
}
