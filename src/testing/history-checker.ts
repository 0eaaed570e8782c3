import { formatSummary } from './history-summary.js';
import type {
  AcceptedMessage,
  CrashWindow,
  Delivery,
  DeliveryOverlap,
  Duplicate,
  HistoryInput,
  HistoryReport,
  MessageRef,
  Reordering,
  TargetExpectation,
  UnexpectedDelivery,
} from './history-types.js';

export type * from './history-types.js';

/** The lane used for messages without a key on a `key`-ordered target: they are ordered among themselves. */
const NO_KEY = '\u0000no-key';

/** What the checker knows about one expected target. */
interface TargetPlan {
  readonly expectation: TargetExpectation;
  /** The channel's accepted messages by id, first acceptance wins. */
  readonly messages: ReadonlyMap<string, AcceptedMessage>;
  readonly skipped: ReadonlySet<string>;
  /** Deliveries to this target of accepted ids, stably sorted by `startedAt`. */
  readonly deliveries: readonly Delivery[];
}

/**
 * Checks a delivery history against Offload's contract: nothing accepted is lost, duplicates
 * come only from crashes, ordered lanes are acknowledged in order and never have two
 * deliveries in flight at once, and nothing is delivered that was never accepted.
 * Pure: everything it needs is in `input`.
 */
export function checkHistory(input: HistoryInput): HistoryReport {
  const byChannel = indexAccepted(input.accepted);
  const { plans, unexpected } = planTargets(input, byChannel);
  const crashed = crashedIds(input, plans);

  const lost: MessageRef[] = [];
  const duplicated: Duplicate[] = [];
  const reordered: Reordering[] = [];
  const overlaps: DeliveryOverlap[] = [];
  for (const plan of plans) {
    lost.push(...findLost(plan));
    duplicated.push(...findDuplicates(plan, crashed.get(plan.expectation.target)));
    const ordering = plan.expectation.ordering ?? 'none';
    if (ordering === 'none') continue;
    const lanes = splitLanes(plan, ordering);
    for (const [key, lane] of lanes) {
      const laneKey = ordering === 'key' && key !== NO_KEY ? key : undefined;
      const reordering = findReordering(plan, lane, laneKey);
      if (reordering) reordered.push(reordering);
      overlaps.push(...findOverlaps(plan.expectation.target, lane.deliveries, laneKey));
    }
  }

  const duplicatedInFlight = duplicated.filter((d) => d.inFlightAtCrash);
  const duplicatedUnexpected = duplicated.filter((d) => !d.inFlightAtCrash);
  const ok =
    lost.length === 0 &&
    duplicatedUnexpected.length === 0 &&
    reordered.length === 0 &&
    overlaps.length === 0 &&
    unexpected.length === 0;
  const stats = {
    accepted: input.accepted.length,
    targets: input.targets.length,
    deliveries: input.deliveries.length,
    acknowledged: input.deliveries.filter((d) => d.outcome === 'ok').length,
  };
  const report: Omit<HistoryReport, 'summary'> = {
    ok,
    lost,
    duplicated,
    duplicatedInFlight,
    duplicatedUnexpected,
    reordered,
    overlaps,
    unexpected,
    stats,
  };
  return { ...report, summary: () => formatSummary(report) };
}

/** Throws with the report's summary unless the history is clean. */
export function assertHistory(input: HistoryInput): HistoryReport {
  const report = checkHistory(input);
  if (!report.ok) throw new Error(report.summary());
  return report;
}

function indexAccepted(accepted: readonly AcceptedMessage[]): Map<string, Map<string, AcceptedMessage>> {
  const byChannel = new Map<string, Map<string, AcceptedMessage>>();
  for (const message of accepted) {
    let messages = byChannel.get(message.channel);
    if (!messages) byChannel.set(message.channel, (messages = new Map()));
    // A producer retrying a send gets `duplicate: true`; the first acceptance is the message.
    if (!messages.has(message.id)) messages.set(message.id, message);
  }
  return byChannel;
}

function planTargets(
  input: HistoryInput,
  byChannel: Map<string, Map<string, AcceptedMessage>>,
): { plans: TargetPlan[]; unexpected: UnexpectedDelivery[] } {
  const byTarget = new Map<string, Delivery[]>();
  const unexpected = new Map<string, UnexpectedDelivery>();
  const expectations = new Map(input.targets.map((t) => [t.target, t]));
  for (const delivery of input.deliveries) {
    const expectation = expectations.get(delivery.target);
    const known = expectation && byChannel.get(expectation.channel)?.has(delivery.id);
    if (!known) {
      const reason = expectation ? 'unknown id' : 'unknown target';
      unexpected.set(`${delivery.target}\u0000${delivery.id}`, { target: delivery.target, id: delivery.id, reason });
      continue;
    }
    let list = byTarget.get(delivery.target);
    if (!list) byTarget.set(delivery.target, (list = []));
    list.push(delivery);
  }
  const plans = input.targets.map((expectation) => ({
    expectation,
    messages: byChannel.get(expectation.channel) ?? new Map<string, AcceptedMessage>(),
    skipped: new Set(expectation.skipped ?? []),
    // Array.prototype.sort is stable: a batch's events keep their order at equal startedAt.
    deliveries: (byTarget.get(expectation.target) ?? []).sort((a, b) => a.startedAt - b.startedAt),
  }));
  return { plans, unexpected: [...unexpected.values()] };
}

function findLost(plan: TargetPlan): MessageRef[] {
  const acknowledged = new Set(plan.deliveries.filter((d) => d.outcome === 'ok').map((d) => d.id));
  const target = plan.expectation.target;
  return [...plan.messages.keys()]
    .filter((id) => !acknowledged.has(id) && !plan.skipped.has(id))
    .map((id) => ({ target, id }));
}

function findDuplicates(plan: TargetPlan, crashed: ReadonlySet<string> | undefined): Duplicate[] {
  const counts = new Map<string, number>();
  for (const d of plan.deliveries) if (d.outcome === 'ok') counts.set(d.id, (counts.get(d.id) ?? 0) + 1);
  const target = plan.expectation.target;
  return [...counts]
    .filter(([, count]) => count > 1)
    .map(([id, count]) => ({ target, id, count, inFlightAtCrash: crashed?.has(id) ?? false }));
}

/** Per target, the ids in flight at a crash: listed explicitly, or with a delivery meeting a crash window. */
function crashedIds(input: HistoryInput, plans: readonly TargetPlan[]): Map<string, Set<string>> {
  const listed = [...(input.inFlightAtCrash ?? [])];
  const windows = (input.crashes ?? []).map(toWindow);
  const result = new Map<string, Set<string>>();
  for (const plan of plans) {
    const ids = new Set(listed);
    for (const d of plan.deliveries) {
      const end = d.endedAt ?? Infinity;
      if (windows.some((w) => d.startedAt <= w.to && end >= w.from)) ids.add(d.id);
    }
    result.set(plan.expectation.target, ids);
  }
  return result;
}

function toWindow(crash: CrashWindow): { from: number; to: number } {
  return typeof crash === 'number' ? { from: crash, to: crash } : crash;
}

interface Lane {
  /** Ids in the order they must be acknowledged. */
  readonly order: string[];
  readonly deliveries: Delivery[];
}

function splitLanes(plan: TargetPlan, ordering: 'topic' | 'key'): Map<string, Lane> {
  const laneOf = (key: string | undefined): string => (ordering === 'topic' ? '' : (key ?? NO_KEY));
  const members = new Map<string, AcceptedMessage[]>();
  for (const message of plan.messages.values()) {
    const lane = laneOf(message.key);
    const list = members.get(lane);
    if (list) list.push(message);
    else members.set(lane, [message]);
  }
  const lanes = new Map<string, Lane>();
  for (const [key, list] of members) lanes.set(key, { order: sortLane(list), deliveries: [] });
  for (const d of plan.deliveries) {
    // The accepted message's key is authoritative; the delivered one is what is under test.
    lanes.get(laneOf(plan.messages.get(d.id)?.key))?.deliveries.push(d);
  }
  return lanes;
}

/** Sequence if every message has one, else the producer's order, else acceptance order. */
function sortLane(messages: AcceptedMessage[]): string[] {
  const rank: ((m: AcceptedMessage) => number) | undefined = messages.every((m) => m.sequence !== undefined)
    ? (m) => m.sequence ?? 0
    : messages.every((m) => m.order !== undefined)
      ? (m) => m.order ?? 0
      : undefined;
  const sorted = rank ? [...messages].sort((a, b) => rank(a) - rank(b)) : messages;
  return sorted.map((m) => m.id);
}

/**
 * Walks the lane's acknowledgements in start order. `frontier` is the first message not yet
 * acknowledged; acknowledging anything past it (other than a skipped id or a redelivery) is
 * a violation. Redelivering something behind the frontier is at-least-once, not disorder.
 */
function findReordering(plan: TargetPlan, lane: Lane, key: string | undefined): Reordering | undefined {
  const position = new Map(lane.order.map((id, i) => [id, i]));
  const done = lane.order.map((id) => plan.skipped.has(id));
  let frontier = 0;
  const advance = (): void => {
    while (frontier < done.length && done[frontier]) frontier++;
  };
  advance();
  let first: Omit<Reordering, 'violations'> | undefined;
  let violations = 0;
  for (const d of lane.deliveries) {
    const p = position.get(d.id);
    if (d.outcome !== 'ok' || p === undefined || done[p]) continue;
    if (p > frontier) {
      violations++;
      first ??= { target: plan.expectation.target, key, id: d.id, before: lane.order[frontier] ?? '', at: d.startedAt };
    }
    done[p] = true;
    advance();
  }
  return first && { ...first, violations };
}

/** A sweep over start times: each delivery is compared with the one reaching furthest so far. */
function findOverlaps(target: string, deliveries: readonly Delivery[], key: string | undefined): DeliveryOverlap[] {
  const overlaps: DeliveryOverlap[] = [];
  let reach: Delivery | undefined;
  for (const d of deliveries) {
    const reachEnd = reach?.endedAt ?? Infinity;
    const sameRequest = reach?.request !== undefined && reach.request === d.request;
    if (reach && d.startedAt < reachEnd && !sameRequest) {
      overlaps.push({ target, key, first: refOf(reach), second: refOf(d) });
    }
    if (!reach || (d.endedAt ?? Infinity) > reachEnd) reach = d;
  }
  return overlaps;
}

function refOf(d: Delivery): { id: string; startedAt: number; endedAt?: number } {
  return d.endedAt === undefined
    ? { id: d.id, startedAt: d.startedAt }
    : { id: d.id, startedAt: d.startedAt, endedAt: d.endedAt };
}
