import type { Duplicate, RequestRecord } from '../src/testing/index.js';
import type { CrashRecord } from './cluster.js';
import type { AttemptView, MessageLookup } from './message-view.js';
import { offset, requestsFor, SHOWN } from './timeline.js';
import { OFFLOAD_TARGET, TARGETS } from './workloads.js';

/** Why Offload sent an acknowledged attempt again. */
export type RepeatCause =
  /** Offload recorded the attempt as a timeout or connection error: it never read the 2xx in time. */
  | { kind: 'timeout'; attempt: number; receiverMs: number; offloadMs: number; offloadError: string }
  /** Offload has no record of the attempt and a crash came before the next request: killed before it recorded the 2xx. */
  | { kind: 'crash'; attempt: number; answeredAt: number; crashAt: number };

export interface ExplainedDuplicate extends Duplicate {
  readonly causes: readonly RepeatCause[];
}

export interface ExplainedDuplicates {
  readonly timeoutRaces: ExplainedDuplicate[];
  /** Answered a little more than the crash margin before a crash, and not yet recorded by then. */
  readonly lateCrash: ExplainedDuplicate[];
  readonly unexplained: Duplicate[];
}

/** Past this many, duplicates are not looked up one by one: something is plainly wrong. */
const LOOKUPS = 200;

/**
 * Duplicates outside every crash window are checked against Offload's own attempt history.
 * Every 2xx but the one Offload recorded as delivered must be explained: that attempt is
 * recorded as failed (Offload timed out before reading the answer, the machine having stalled),
 * or it is missing and a crash came before the next request (Offload was killed before it
 * recorded the answer, later than the crash margin allows for). Anything else is a violation.
 */
export async function explainDuplicates(
  duplicates: readonly Duplicate[],
  records: readonly RequestRecord[],
  crashes: readonly CrashRecord[],
  lookup: MessageLookup | undefined,
): Promise<ExplainedDuplicates> {
  const result: ExplainedDuplicates = { timeoutRaces: [], lateCrash: [], unexplained: [] };
  for (const [i, duplicate] of duplicates.entries()) {
    const causes = i < LOOKUPS && lookup ? await causesOf(duplicate, records, crashes, lookup) : undefined;
    if (!causes) result.unexplained.push(duplicate);
    else if (causes.some((c) => c.kind === 'crash')) result.lateCrash.push({ ...duplicate, causes });
    else result.timeoutRaces.push({ ...duplicate, causes });
  }
  return result;
}

async function causesOf(duplicate: Duplicate, records: readonly RequestRecord[], crashes: readonly CrashRecord[], lookup: MessageLookup): Promise<RepeatCause[] | undefined> {
  const channel = TARGETS.find((t) => t.target === duplicate.target)?.channel ?? '';
  const view = await lookup(duplicate.id, channel);
  if (!view) return undefined;
  const history = view.deliveries.find((d) => d.target === OFFLOAD_TARGET[duplicate.target])?.history ?? [];
  const requests = requestsFor(records, duplicate.target, duplicate.id);
  const causes: RepeatCause[] = [];
  let delivered = 0;
  for (const [i, request] of requests.entries()) {
    if (!(request.outcome === 'answered' && (request.status ?? 0) >= 200 && (request.status ?? 0) < 300)) continue;
    const attempt = request.events.find((e) => e.id === duplicate.id)?.attempt ?? -1;
    const recorded = history.find((a) => a.attempt === attempt);
    if (recorded && isSuccess(recorded)) delivered++;
    else {
      const cause = recorded ? timeoutCause(request, recorded, attempt) : crashCause(request, requests[i + 1], crashes, attempt);
      if (!cause) return undefined;
      causes.push(cause);
    }
  }
  return delivered <= 1 && causes.length > 0 ? causes : undefined;
}

function isSuccess(attempt: AttemptView): boolean {
  return attempt.statusCode !== null && attempt.statusCode >= 200 && attempt.statusCode < 300;
}

function timeoutCause(request: RequestRecord, recorded: AttemptView, attempt: number): RepeatCause {
  const receiverMs = (request.endedAt ?? request.startedAt) - request.startedAt;
  return { kind: 'timeout', attempt, receiverMs, offloadMs: recorded.durationMs, offloadError: recorded.error ?? `HTTP ${recorded.statusCode}` };
}

function crashCause(request: RequestRecord, next: RequestRecord | undefined, crashes: readonly CrashRecord[], attempt: number): RepeatCause | undefined {
  const answeredAt = request.endedAt ?? request.startedAt;
  const before = next?.startedAt ?? Infinity;
  const crash = crashes.find((c) => c.at >= answeredAt && c.at <= before);
  return crash ? { kind: 'crash', attempt, answeredAt, crashAt: crash.at } : undefined;
}

export function explainedLines(explained: ExplainedDuplicates, startedAt: number): string[] {
  const lines: string[] = [];
  if (explained.lateCrash.length > 0) {
    lines.push(`${explained.lateCrash.length} duplicate(s) answered 2xx longer than the crash margin before a kill, which Offload had not recorded yet (allowed):`);
    for (const d of explained.lateCrash.slice(0, SHOWN)) lines.push(`  ${d.target} ${d.id}: ${d.causes.map((c) => describeCause(c, startedAt)).join('; ')}`);
  }
  if (explained.timeoutRaces.length > 0) {
    lines.push(`${explained.timeoutRaces.length} duplicate(s) answered 2xx after Offload had given the attempt up (allowed, at-least-once):`);
    for (const d of explained.timeoutRaces.slice(0, SHOWN)) lines.push(`  ${d.target} ${d.id}: ${d.causes.map((c) => describeCause(c, startedAt)).join('; ')}`);
  }
  return lines;
}

function describeCause(cause: RepeatCause, startedAt: number): string {
  if (cause.kind === 'timeout') {
    return `attempt ${cause.attempt} answered in ${cause.receiverMs.toFixed(0)}ms at the receiver, ${cause.offloadError} after ${cause.offloadMs}ms in Offload`;
  }
  return `attempt ${cause.attempt} answered ${offset(cause.answeredAt, startedAt)}, killed ${offset(cause.crashAt, startedAt)} (${(cause.crashAt - cause.answeredAt).toFixed(0)}ms later) before recording it`;
}
