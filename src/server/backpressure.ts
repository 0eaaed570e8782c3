import type { ChannelLimits } from '../config/load.js';
import { matchesFilter, type SubscriptionFilter } from '../domain/subscription-filter.js';
import type { Store, TargetStats } from '../storage/port.js';

/** Why a send is refused, and when to try again. */
export interface Throttle {
  channel: string;
  reason: string;
  /** Seconds, for the Retry-After header (1 to 60). */
  retryAfterSeconds: number;
  depth: number;
  oldestAgeMs: number;
}

export interface ChannelPressure {
  channel: string;
  limits: ChannelLimits;
  /** Backlog as last measured (plus what this instance accepted since). */
  depth: number;
  oldestAgeMs: number;
  throttled: boolean;
  /** Sends refused since start, on this instance. */
  refusedTotal: number;
}

export interface Backpressure {
  /** Null when the channel may take more; a Throttle when a send must be refused (429). */
  check(channel: string): Promise<Throttle | null>;
  /**
   * Messages this instance just stored on the channel: counted until the next measurement, on
   * each target that takes them (a filtered subscription counts only the events it matches).
   */
  accepted(channel: string, messages: ReadonlyArray<{ type: string; key: string | null }>): void;
  views(): ChannelPressure[];
}

interface Measured {
  at: number;
  byTarget: Map<string, TargetStats>;
}

/** Stats are read at most this often; between reads, accepted sends are added to the last depth. */
const MEASURE_EVERY_MS = 250;
const RETRY_AFTER_DEFAULT_S = 2;
const RETRY_AFTER_MAX_S = 60;

/**
 * Backpressure to producers: a queue or topic with `maxDepth` (or `maxOldestAge`) refuses sends
 * while its undelivered backlog is at or over the limit (a topic: its deepest subscription).
 * The backlog comes from the store's per-target stats, read at most every 250 ms and shared by
 * every channel; sends this instance accepted since are added, so a burst cannot overshoot by
 * more than what other instances accept in that time.
 */
export function createBackpressure(options: {
  store: Store;
  now: () => number;
  limits: ReadonlyMap<string, ChannelLimits>;
  /** The targets (queue, or the subscriptions of a topic) whose backlog counts for a channel. */
  targetsOf: (channel: string) => readonly string[];
  /** A subscription's filter (null: it takes every event of its topic). */
  filterOf?: (target: string) => SubscriptionFilter | null;
  /** Called when a channel starts refusing sends, and at most every 5 s while it keeps refusing. */
  onThrottled?: (throttle: Throttle, refusedSinceLast: number) => void;
}): Backpressure {
  const { store, now, limits } = options;
  let measured: Measured | null = null;
  let previous: Measured | null = null;
  let measuring: Promise<Measured> | null = null;
  const acceptedSince = new Map<string, number>();
  const state = new Map<string, { throttled: boolean; refusedTotal: number; refusedSinceEvent: number; lastEventAt: number }>();
  const stateOf = (channel: string) => {
    let s = state.get(channel);
    if (!s) state.set(channel, (s = { throttled: false, refusedTotal: 0, refusedSinceEvent: 0, lastEventAt: 0 }));
    return s;
  };

  async function measure(): Promise<Measured> {
    if (measured && now() - measured.at < MEASURE_EVERY_MS) return measured;
    measuring ??= store
      .stats()
      .then((stats) => {
        previous = measured;
        measured = { at: now(), byTarget: new Map(stats.map((s) => [s.name, s])) };
        acceptedSince.clear();
        return measured;
      })
      .finally(() => {
        measuring = null;
      });
    return measuring;
  }

  function backlog(channel: string, m: Measured): { depth: number; oldestAgeMs: number; delivered: number } {
    let depth = 0;
    let oldestAgeMs = 0;
    let delivered = Number.POSITIVE_INFINITY;
    for (const target of options.targetsOf(channel)) {
      const s = m.byTarget.get(target);
      const accepted = acceptedSince.get(target) ?? 0;
      if (!s) {
        depth = Math.max(depth, accepted);
        continue;
      }
      depth = Math.max(depth, s.depth + accepted);
      oldestAgeMs = Math.max(oldestAgeMs, s.oldestAgeMs > 0 ? s.oldestAgeMs + (now() - m.at) : 0);
      delivered = Math.min(delivered, s.delivered + s.deadLettered);
    }
    return { depth, oldestAgeMs, delivered: Number.isFinite(delivered) ? delivered : 0 };
  }

  /** Seconds until the backlog is likely under the limit again, from the rate it drained at lately. */
  function retryAfter(channel: string, excess: number): number {
    if (!measured || !previous || measured.at <= previous.at) return RETRY_AFTER_DEFAULT_S;
    const drained = backlog(channel, measured).delivered - backlog(channel, previous).delivered;
    const perSecond = (drained * 1000) / (measured.at - previous.at);
    if (perSecond <= 0) return RETRY_AFTER_DEFAULT_S;
    return Math.min(RETRY_AFTER_MAX_S, Math.max(1, Math.ceil(excess / perSecond)));
  }

  return {
    async check(channel) {
      const channelLimits = limits.get(channel);
      if (!channelLimits) return null;
      const m = await measure();
      const { depth, oldestAgeMs } = backlog(channel, m);
      const s = stateOf(channel);
      const tooDeep = channelLimits.maxDepth !== null && depth >= channelLimits.maxDepth;
      const tooOld = channelLimits.maxOldestAgeMs !== null && oldestAgeMs >= channelLimits.maxOldestAgeMs;
      if (!tooDeep && !tooOld) {
        s.throttled = false;
        return null;
      }
      const reason = tooDeep
        ? `'${channel}' has ${depth} undelivered messages, at or over its maxDepth of ${channelLimits.maxDepth}`
        : `the oldest undelivered message of '${channel}' is ${Math.round(oldestAgeMs / 1000)}s old, at or over its maxOldestAge of ${Math.round(channelLimits.maxOldestAgeMs! / 1000)}s`;
      const throttle: Throttle = { channel, reason, retryAfterSeconds: tooDeep ? retryAfter(channel, depth - channelLimits.maxDepth! + 1) : RETRY_AFTER_DEFAULT_S, depth, oldestAgeMs };
      s.refusedTotal++;
      s.refusedSinceEvent++;
      if (!s.throttled || now() - s.lastEventAt >= 5_000) {
        options.onThrottled?.(throttle, s.refusedSinceEvent);
        s.lastEventAt = now();
        s.refusedSinceEvent = 0;
      }
      s.throttled = true;
      return throttle;
    },
    accepted(channel, messages) {
      if (!limits.has(channel)) return;
      for (const target of options.targetsOf(channel)) {
        const filter = options.filterOf?.(target) ?? null;
        const count = filter === null ? messages.length : messages.filter((m) => matchesFilter(filter, m.type, m.key)).length;
        if (count > 0) acceptedSince.set(target, (acceptedSince.get(target) ?? 0) + count);
      }
    },
    views() {
      return [...limits].map(([channel, channelLimits]) => {
        const b = measured ? backlog(channel, measured) : { depth: 0, oldestAgeMs: 0 };
        const over = (channelLimits.maxDepth !== null && b.depth >= channelLimits.maxDepth) || (channelLimits.maxOldestAgeMs !== null && b.oldestAgeMs >= channelLimits.maxOldestAgeMs);
        return { channel, limits: channelLimits, depth: b.depth, oldestAgeMs: b.oldestAgeMs, throttled: over, refusedTotal: stateOf(channel).refusedTotal };
      });
    },
  };
}
