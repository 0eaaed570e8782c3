import type { DeliveryRef, HistoryReport } from './history-types.js';

const SHOWN = 10;

/** Renders a report as a few lines, enough to see what went wrong without dumping the history. */
export function formatSummary(report: Omit<HistoryReport, 'summary'>): string {
  const { stats } = report;
  const scope =
    `${stats.accepted} accepted, ${stats.targets} target${plural(stats.targets)}, ` +
    `${stats.deliveries} deliver${stats.deliveries === 1 ? 'y' : 'ies'} (${stats.acknowledged} acknowledged)`;
  const allowed = report.duplicatedInFlight.length
    ? `; ${report.duplicatedInFlight.length} duplicate${plural(report.duplicatedInFlight.length)} in flight at a crash (allowed)`
    : '';
  if (report.ok) return `history ok: ${scope}${allowed}`;

  const lines = [`history violated: ${scope}${allowed}`];
  section(lines, 'lost', report.lost, (m) => `${m.target} ${m.id}`);
  section(
    lines,
    'duplicated (not in flight at a crash)',
    report.duplicatedUnexpected,
    (d) => `${d.target} ${d.id} acknowledged ${d.count} times`,
  );
  section(
    lines,
    'reordered',
    report.reordered,
    (r) =>
      `${lane(r.target, r.key)}: ${r.id} acknowledged before ${r.before} ` +
      `(${r.violations} out-of-order acknowledgement${plural(r.violations)} in this lane)`,
  );
  section(
    lines,
    'overlapping',
    report.overlaps,
    (o) => `${lane(o.target, o.key)}: ${interval(o.first)} overlaps ${interval(o.second)}`,
  );
  section(lines, 'unexpected', report.unexpected, (u) => `${u.target} ${u.id} (${u.reason})`);
  return lines.join('\n');
}

function section<T>(lines: string[], title: string, items: readonly T[], describe: (item: T) => string): void {
  if (items.length === 0) return;
  lines.push(`  ${title}: ${items.length}`);
  for (const item of items.slice(0, SHOWN)) lines.push(`    - ${describe(item)}`);
  if (items.length > SHOWN) lines.push(`    … and ${items.length - SHOWN} more`);
}

function lane(target: string, key: string | undefined): string {
  return key === undefined ? target : `${target} key ${key}`;
}

function interval(d: DeliveryRef): string {
  // Sub-millisecond overlaps are common on loopback, so the length is shown with a fraction.
  const length = d.endedAt === undefined ? 'still open' : `${(d.endedAt - d.startedAt).toFixed(1)} ms`;
  return `${d.id} (from ${new Date(d.startedAt).toISOString()}, ${length})`;
}

function plural(n: number): string {
  return n === 1 ? '' : 's';
}
