import type { HistoryReport, RequestRecord } from '../src/testing/index.js';
import type { CrashRecord } from './cluster.js';
import { describeView, type MessageLookup } from './message-view.js';
import type { Overlap } from './overlaps.js';
import { TARGETS } from './workloads.js';

/** Up to this many ids per kind of violation get a timeline. */
export const SHOWN = 5;

export interface TimelineInput {
  readonly report: HistoryReport;
  /** The overlaps that count (stamp-order ones are left out). */
  readonly overlaps: readonly Overlap[];
  readonly duplicates: ReadonlyArray<{ target: string; id: string; count: number }>;
  readonly records: readonly RequestRecord[];
  readonly crashes: readonly CrashRecord[];
  readonly startedAt: number;
  readonly lookup?: MessageLookup;
}

/**
 * For a few ids per violation: every request carrying it at that target, the crashes, and
 * Offload's own record of the message, so a violation can be reported without rerunning.
 */
export async function timelines(input: TimelineInput): Promise<string[]> {
  const { report } = input;
  const picks: Array<{ why: string; target: string; id: string }> = [
    ...report.lost.slice(0, SHOWN).map((m) => ({ why: 'lost', ...m })),
    ...input.duplicates.slice(0, SHOWN).map((d) => ({ why: `acknowledged ${d.count} times`, ...d })),
    ...report.reordered.slice(0, SHOWN).flatMap((r) => [
      { why: `acknowledged before ${r.before}`, target: r.target, id: r.id },
      { why: `overtaken by ${r.id}`, target: r.target, id: r.before },
    ]),
    ...input.overlaps.slice(0, SHOWN).flatMap((o) => [
      { why: `overlaps ${o.second.id}`, target: o.target, id: o.first.id },
      { why: `overlaps ${o.first.id}`, target: o.target, id: o.second.id },
    ]),
    ...report.unexpected.slice(0, SHOWN).map((u) => ({ why: u.reason, ...u })),
  ];
  const seen = new Set<string>();
  const lines = ['timelines (offsets from the start of the run, receiver clock):'];
  for (const c of input.crashes) {
    lines.push(`  ${offset(c.at, input.startedAt)} ${c.kind}${c.instance ? ` ${c.instance}` : ''} (until ${offset(c.until, input.startedAt)})`);
  }
  for (const pick of picks) {
    if (seen.has(`${pick.target} ${pick.id}`)) continue;
    seen.add(`${pick.target} ${pick.id}`);
    lines.push(`  ${pick.target} ${pick.id}: ${pick.why}`);
    for (const record of requestsFor(input.records, pick.target, pick.id)) lines.push(`    ${describeRecord(record, pick.id, input.startedAt)}`);
    const channel = TARGETS.find((t) => t.target === pick.target)?.channel ?? '?';
    const view = await input.lookup?.(pick.id, channel);
    if (view) lines.push(`    offload says: ${describeView(view)}`);
  }
  return lines;
}

export function requestsFor(records: readonly RequestRecord[], target: string, id: string): RequestRecord[] {
  return records.filter((r) => r.target === target && r.events.some((e) => e.id === id));
}

export function describeRecord(record: RequestRecord, id: string, startedAt: number): string {
  const event = record.events.find((e) => e.id === id);
  const end = record.endedAt === undefined ? 'still open' : offset(record.endedAt, startedAt);
  const outcome = record.outcome === 'answered' ? `answered ${record.status}` : record.outcome;
  const batch = record.events.length > 1 ? ` in a batch of ${record.events.length}` : '';
  return `#${record.index} ${offset(record.startedAt, startedAt)} → ${end} attempt ${event?.attempt ?? '?'}${batch}: ${outcome} (fault ${record.fault?.kind ?? 'none'})`;
}

export function offset(at: number, startedAt: number): string {
  return `+${((at - startedAt) / 1_000).toFixed(3)}s`;
}
