import type { DeliveryOverlap, OverlapViolation, RequestRecord } from '../src/testing/index.js';
import type { LagSampler } from './loop-lag.js';
import type { MessageLookup } from './message-view.js';
import { offset, SHOWN } from './timeline.js';
import { OFFLOAD_TARGET, TARGETS } from './workloads.js';

/** Two requests of one lane that the receiver saw in flight together. */
export interface Overlap {
  readonly target: string;
  readonly key?: string;
  readonly first: { readonly id: string; readonly record: RequestRecord };
  readonly second: { readonly id: string; readonly record: RequestRecord };
}

/** An overlap judged to be stamp order, with what showed it. */
export interface StampOrder extends Overlap {
  readonly lagMs: number;
  /** Offload's own attempt times, when it still had them. */
  readonly offload?: { readonly firstEnded: number; readonly secondStarted: number };
}

export interface ClassifiedOverlaps {
  readonly real: Overlap[];
  readonly stampOrder: StampOrder[];
}

/** Checker overlaps name ids and start times; this finds the requests behind them. */
export function fromChecker(overlaps: readonly DeliveryOverlap[], records: readonly RequestRecord[]): Overlap[] {
  const find = (target: string, id: string, startedAt: number): RequestRecord | undefined =>
    records.find((r) => r.target === target && r.startedAt === startedAt && r.events.some((e) => e.id === id));
  return overlaps.flatMap((o) => {
    const first = find(o.target, o.first.id, o.first.startedAt);
    const second = find(o.target, o.second.id, o.second.startedAt);
    return first && second ? [{ target: o.target, key: o.key, first: { id: o.first.id, record: first }, second: { id: o.second.id, record: second } }] : [];
  });
}

/** The receiver's monitor names request indexes; the lane's id in each is the one with the key. */
export function fromMonitor(overlaps: readonly OverlapViolation[], records: readonly RequestRecord[]): Overlap[] {
  const idOf = (record: RequestRecord, key: string | undefined): string => (record.events.find((e) => key === undefined || e.key === key) ?? record.events[0])?.id ?? '?';
  return overlaps.flatMap((o) => {
    const first = records[o.first];
    const second = records[o.second];
    return first && second ? [{ target: o.target, key: o.key, first: { id: idOf(first, o.key), record: first }, second: { id: idOf(second, o.key), record: second } }] : [];
  });
}

/**
 * The receiver stamps a request when its callback runs, so while the runner's loop is held up a
 * retry's arrival can be stamped before the close of the connection the sender had already
 * given up. An overlap counts as stamp order only when it is no longer than the loop lag around
 * it and, where Offload still has both attempts, Offload's own times show the first attempt
 * ended before the second began. Anything else is a real overlap.
 */
export async function classifyOverlaps(overlaps: readonly Overlap[], lag: LagSampler, lookup: MessageLookup | undefined): Promise<ClassifiedOverlaps> {
  const real: Overlap[] = [];
  const stampOrder: StampOrder[] = [];
  for (const overlap of overlaps) {
    const firstEnd = overlap.first.record.endedAt;
    const secondStart = overlap.second.record.startedAt;
    // The sampler sees a stall only when its timer runs after it, so the window reaches past both stamps.
    const lagMs = firstEnd === undefined ? 0 : lag.maxLagBetween(secondStart - 100, firstEnd + 200);
    // 5 ms on top: the two stamps themselves are a few callbacks apart.
    const withinLag = firstEnd !== undefined && firstEnd - secondStart <= lagMs + 5;
    const offload = withinLag ? await offloadTimes(overlap, lookup) : undefined;
    if (withinLag && (offload === undefined || offload.firstEnded <= offload.secondStarted)) stampOrder.push({ ...overlap, lagMs, offload });
    else real.push(overlap);
  }
  return { real, stampOrder };
}

async function offloadTimes(overlap: Overlap, lookup: MessageLookup | undefined): Promise<StampOrder['offload']> {
  if (!lookup) return undefined;
  const first = await attemptOf(overlap.target, overlap.first, lookup);
  const second = await attemptOf(overlap.target, overlap.second, lookup);
  if (!first || !second) return undefined;
  return { firstEnded: first.startedAt + first.durationMs, secondStarted: second.startedAt };
}

async function attemptOf(target: string, side: Overlap['first'], lookup: MessageLookup): Promise<{ startedAt: number; durationMs: number } | undefined> {
  const attempt = side.record.events.find((e) => e.id === side.id)?.attempt;
  const channel = TARGETS.find((t) => t.target === target)?.channel ?? '';
  const view = await lookup(side.id, channel);
  const history = view?.deliveries.find((d) => d.target === OFFLOAD_TARGET[target])?.history ?? [];
  const found = history.find((a) => a.attempt === attempt);
  return found ? { startedAt: Date.parse(found.startedAt), durationMs: found.durationMs } : undefined;
}

export function stampOrderLines(overlaps: readonly StampOrder[], startedAt: number): string[] {
  if (overlaps.length === 0) return [];
  const lines = [`${overlaps.length} overlap(s) that are stamp order only (no longer than the receiver's loop lag; not counted):`];
  for (const o of overlaps.slice(0, SHOWN)) {
    const end = o.first.record.endedAt ?? 0;
    const offload = o.offload
      ? `; Offload: attempt ended ${offset(o.offload.firstEnded, startedAt)}, next began ${offset(o.offload.secondStarted, startedAt)}`
      : '; Offload no longer has both attempts';
    lines.push(
      `  ${o.target}${o.key ? ` key ${o.key}` : ''}: ${o.first.id} ended ${offset(end, startedAt)} (${o.first.record.outcome}), ` +
        `${o.second.id} started ${offset(o.second.record.startedAt, startedAt)}; loop lag up to ${o.lagMs.toFixed(0)}ms${offload}`,
    );
  }
  return lines;
}
