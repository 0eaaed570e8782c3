import { checkHistory, type CrashWindow, type FaultReceiver, type HistoryReport } from '../src/testing/index.js';
import type { CrashRecord } from './cluster.js';
import { explainDuplicates, explainedLines } from './duplicates.js';
import { describeCounts, type Ledger } from './ledger.js';
import type { LagSampler } from './loop-lag.js';
import type { MessageLookup } from './message-view.js';
import { classifyOverlaps, fromChecker, fromMonitor, stampOrderLines } from './overlaps.js';
import { offset, timelines } from './timeline.js';
import { TARGETS } from './workloads.js';

/**
 * After a PostgreSQL restart an instance's pool needs a moment to reconnect; a delivery that
 * ended in that moment may not have been recorded as delivered and is legitimately repeated.
 */
const STORE_RECONNECT_MS = 2_000;

export interface VerdictInput {
  readonly ledger: Ledger;
  readonly receiver: FaultReceiver;
  readonly crashes: readonly CrashRecord[];
  readonly crashMarginMs: number;
  /** Receiver-clock instant the run started, so timelines read as offsets. */
  readonly startedAt: number;
  /** The runner's event-loop lag, which bounds how late the receiver stamped a request. */
  readonly lag: LagSampler;
  /** Offload's own record of a message; needs a live instance. */
  readonly lookup?: MessageLookup;
}

/** Everything the headline counts. */
export interface VerdictCounts {
  readonly accepted: number;
  readonly expected: number;
  readonly lost: number;
  readonly duplicatesAtCrash: number;
  readonly timeoutRaces: number;
  readonly duplicatesUnexpected: number;
  readonly reordered: number;
  readonly overlaps: number;
  readonly monitorOverlaps: number;
  readonly stampOrderOverlaps: number;
  readonly unexpected: number;
  readonly instanceCrashes: number;
  readonly anomalies: number;
}

export interface Verdict {
  readonly ok: boolean;
  readonly report: HistoryReport;
  readonly counts: VerdictCounts;
  /** The one line CI greps for. */
  readonly headline: string;
  /** Everything worth printing above it: summaries, allowed oddities, timelines of violations. */
  readonly details: string[];
}

export async function judge(input: VerdictInput): Promise<Verdict> {
  const { ledger, receiver } = input;
  const unanswered = ledger.unansweredIds();
  const deliveries = receiver.deliveries().filter((d) => !unanswered.has(d.id));
  const report = checkHistory({ accepted: ledger.accepted(), targets: TARGETS, deliveries, crashes: windows(input) });
  const records = receiver.records();
  const overlaps = await classifyOverlaps(fromChecker(report.overlaps, records), input.lag, input.lookup);
  const monitor = await classifyOverlaps(fromMonitor(receiver.overlaps(), records), input.lag, input.lookup);
  const duplicates = await explainDuplicates(report.duplicatedUnexpected, records, input.crashes, input.lookup);
  const exits = input.crashes.filter((c) => c.kind === 'unexpected-exit');
  const counts: VerdictCounts = {
    accepted: ledger.accepted().length,
    expected: [...ledger.expectedByTarget().values()].reduce((sum, ids) => sum + ids.size, 0),
    lost: report.lost.length,
    duplicatesAtCrash: report.duplicatedInFlight.length + duplicates.lateCrash.length,
    timeoutRaces: duplicates.timeoutRaces.length,
    duplicatesUnexpected: duplicates.unexplained.length,
    reordered: report.reordered.length,
    overlaps: overlaps.real.length,
    monitorOverlaps: monitor.real.length,
    stampOrderOverlaps: overlaps.stampOrder.length,
    unexpected: report.unexpected.length,
    instanceCrashes: exits.length,
    anomalies: ledger.anomalies().length,
  };
  const ok = isClean(counts);
  const details = [ok ? cleanSummary(report) : report.summary()];
  details.push(...explainedLines(duplicates, input.startedAt));
  details.push(...stampOrderLines(overlaps.stampOrder, input.startedAt));
  if (unanswered.size > 0) details.push(`${unanswered.size} message(s) sent but never answered: not counted as accepted, their deliveries ignored`);
  for (const exit of exits) details.push(`instance exited on its own: ${exit.instance} (${exit.detail}) at ${offset(exit.at, input.startedAt)}`);
  for (const anomaly of ledger.anomalies()) details.push(`API anomaly: ${anomaly}`);
  if (!ok) {
    const timelineInput = { report, overlaps: [...overlaps.real, ...monitor.real], duplicates: duplicates.unexplained, records, crashes: input.crashes, startedAt: input.startedAt, lookup: input.lookup };
    details.push(...(await timelines(timelineInput)));
  }
  return { ok, report, counts, headline: headlineOf(ok, counts, ledger), details };
}

function isClean(c: VerdictCounts): boolean {
  return c.lost + c.duplicatesUnexpected + c.reordered + c.overlaps + c.monitorOverlaps + c.unexpected + c.instanceCrashes + c.anomalies === 0;
}

function windows(input: VerdictInput): CrashWindow[] {
  return input.crashes.map((c) => ({
    // The receiver may have answered 2xx a moment before the kill, before Offload recorded it.
    from: c.at - input.crashMarginMs,
    to: c.kind === 'postgres-restart' ? c.until + STORE_RECONNECT_MS : c.until,
  }));
}

function cleanSummary(report: HistoryReport): string {
  const { stats } = report;
  return `history clean: ${stats.accepted} accepted, ${stats.targets} targets, ${stats.deliveries} deliveries (${stats.acknowledged} acknowledged)`;
}

function headlineOf(ok: boolean, c: VerdictCounts, ledger: Ledger): string {
  const allowed = c.duplicatesAtCrash + c.timeoutRaces;
  const parts = [
    `accepted ${c.accepted} (${describeCounts(ledger.counts())})`,
    `delivered ${c.expected - c.lost}/${c.expected} at ${TARGETS.length} targets`,
    `lost ${c.lost}`,
    `duplicates ${allowed} allowed (${c.duplicatesAtCrash} at a crash, ${c.timeoutRaces} after a timeout), ${c.duplicatesUnexpected} unexpected`,
    `reordered ${c.reordered}`,
    `overlaps ${c.overlaps} (receiver monitor ${c.monitorOverlaps}; ${c.stampOrderOverlaps} within loop lag not counted)`,
    `unexpected ${c.unexpected}`,
  ];
  if (c.instanceCrashes > 0) parts.push(`instance crashes ${c.instanceCrashes}`);
  if (c.anomalies > 0) parts.push(`API anomalies ${c.anomalies}`);
  return `VERDICT ${ok ? 'OK' : 'VIOLATED'}: ${parts.join(' | ')}`;
}
