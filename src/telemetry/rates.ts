/**
 * Delivery rates kept in memory for the dashboard's charts and the `rates` of `/v1/channels`:
 * per target, fixed-size rings of time buckets (15 minutes at 5 s, one hour at 20 s), so memory
 * is bounded by the configured targets whatever the traffic. Counts come from the dispatcher's
 * events; depth, age, in-flight and breaker state from a periodic sample of the store's stats.
 * This instance's own deliveries only: with several instances, each charts what it did.
 * Pure: every call takes the time, so tests drive it without a clock.
 */

export type RatesWindow = '15m' | '1h';
export const WINDOWS: Record<RatesWindow, { stepMs: number; buckets: number }> = {
  '15m': { stepMs: 5_000, buckets: 180 },
  '1h': { stepMs: 20_000, buckets: 180 },
};

/** Upper bounds (ms) of the latency histogram kept per bucket: ×1.5 steps from 1 ms to about 9 hours. */
const LATENCY_BOUNDS: readonly number[] = Array.from({ length: 41 }, (_, i) => Math.round(1.5 ** i));

interface Bucket {
  /** Which step since the epoch this slot holds; a slot holding an older step reads as empty. */
  index: number;
  delivered: number;
  failed: number;
  latency: Uint32Array | null;
  depth: number | null;
  inFlight: number | null;
  oldestAgeMs: number | null;
  /** 0 closed, 0.5 half-open, 1 open. */
  breaker: number | null;
}

export interface TargetSample {
  target: string;
  depth: number;
  inFlight: number;
  oldestAgeMs: number;
  breaker: 'closed' | 'open' | 'half-open' | null;
}

export interface Series {
  window: RatesWindow;
  stepSeconds: number;
  /** Bucket start times, epoch seconds (oldest first). */
  t: number[];
  deliveredPerSec: number[];
  failedPerSec: number[];
  latencyP50Ms: Array<number | null>;
  latencyP99Ms: Array<number | null>;
  depth: Array<number | null>;
  inFlight: Array<number | null>;
  oldestAgeMs: Array<number | null>;
  /** Highest breaker state among the targets: 0 closed, 0.5 half-open, 1 open. */
  breaker: Array<number | null>;
}

export interface RecentRates {
  /** Over the last minute. */
  deliveredPerSec: number;
  failedPerSec: number;
  latencyP50Ms: number | null;
  latencyP99Ms: number | null;
}

export interface Rates {
  /** Deliveries settled by this instance; `latenciesMs` (enqueue to delivery) for delivered ones. */
  recordOutcome(target: string, delivered: boolean, count: number, now: number, latenciesMs?: readonly number[]): void;
  recordSample(samples: readonly TargetSample[], now: number): void;
  /** The targets' series merged (sums, merged histograms, worst breaker); all targets when `targets` is null. */
  series(targets: readonly string[] | null, window: RatesWindow, now: number): Series;
  /** The last minute of the targets, merged. */
  recent(targets: readonly string[], now: number): RecentRates;
}

export function createRates(): Rates {
  const rings = new Map<string, Record<RatesWindow, Bucket[]>>();

  function ringsOf(target: string): Record<RatesWindow, Bucket[]> {
    let found = rings.get(target);
    if (!found) {
      const make = (w: RatesWindow) => Array.from({ length: WINDOWS[w].buckets }, (): Bucket => emptyBucket(-1));
      rings.set(target, (found = { '15m': make('15m'), '1h': make('1h') }));
    }
    return found;
  }

  function bucketAt(ring: Bucket[], window: RatesWindow, now: number): Bucket {
    const index = Math.floor(now / WINDOWS[window].stepMs);
    const slot = index % ring.length;
    if (ring[slot]!.index !== index) ring[slot] = emptyBucket(index);
    return ring[slot]!;
  }

  function eachBucket(target: string, now: number, visit: (bucket: Bucket) => void): void {
    const found = ringsOf(target);
    for (const window of ['15m', '1h'] as const) visit(bucketAt(found[window], window, now));
  }

  return {
    recordOutcome(target, delivered, count, now, latenciesMs) {
      eachBucket(target, now, (b) => {
        if (delivered) b.delivered += count;
        else b.failed += count;
        if (latenciesMs && latenciesMs.length > 0) {
          b.latency ??= new Uint32Array(LATENCY_BOUNDS.length + 1);
          for (const ms of latenciesMs) b.latency[latencySlot(ms)]!++;
        }
      });
    },
    recordSample(samples, now) {
      for (const s of samples) {
        eachBucket(s.target, now, (b) => {
          b.depth = s.depth;
          b.inFlight = s.inFlight;
          b.oldestAgeMs = s.oldestAgeMs;
          b.breaker = s.breaker === null ? null : s.breaker === 'open' ? 1 : s.breaker === 'half-open' ? 0.5 : 0;
        });
      }
    },
    series(targets, window, now) {
      const { stepMs, buckets } = WINDOWS[window];
      const names = targets ?? [...rings.keys()];
      const last = Math.floor(now / stepMs);
      const series: Series = { window, stepSeconds: stepMs / 1000, t: [], deliveredPerSec: [], failedPerSec: [], latencyP50Ms: [], latencyP99Ms: [], depth: [], inFlight: [], oldestAgeMs: [], breaker: [] };
      for (let index = last - buckets + 1; index <= last; index++) {
        const merged = emptyBucket(index);
        for (const name of names) {
          const b = rings.get(name)?.[window][index % buckets];
          if (b && b.index === index) mergeInto(merged, b);
        }
        // The current bucket is still filling: its rate is over the time it has covered.
        const seconds = index === last ? Math.max(1, (now - index * stepMs) / 1000) : stepMs / 1000;
        series.t.push((index * stepMs) / 1000);
        series.deliveredPerSec.push(round(merged.delivered / seconds));
        series.failedPerSec.push(round(merged.failed / seconds));
        series.latencyP50Ms.push(merged.latency ? quantile(merged.latency, 0.5) : null);
        series.latencyP99Ms.push(merged.latency ? quantile(merged.latency, 0.99) : null);
        series.depth.push(merged.depth);
        series.inFlight.push(merged.inFlight);
        series.oldestAgeMs.push(merged.oldestAgeMs);
        series.breaker.push(merged.breaker);
      }
      return series;
    },
    recent(targets, now) {
      // The last 12 buckets of 5 s: one minute, including the one filling now.
      const { stepMs } = WINDOWS['15m'];
      const last = Math.floor(now / stepMs);
      const merged = emptyBucket(last);
      for (const target of targets) {
        const ring = rings.get(target)?.['15m'];
        if (ring) for (let index = last - 11; index <= last; index++) if (ring[index % ring.length]!.index === index) mergeInto(merged, ring[index % ring.length]!);
      }
      const seconds = Math.max(1, (now - (last - 11) * stepMs) / 1000);
      return {
        deliveredPerSec: round(merged.delivered / seconds),
        failedPerSec: round(merged.failed / seconds),
        latencyP50Ms: merged.latency ? quantile(merged.latency, 0.5) : null,
        latencyP99Ms: merged.latency ? quantile(merged.latency, 0.99) : null,
      };
    },
  };
}

function emptyBucket(index: number): Bucket {
  return { index, delivered: 0, failed: 0, latency: null, depth: null, inFlight: null, oldestAgeMs: null, breaker: null };
}

function mergeInto(into: Bucket, b: Bucket): void {
  into.delivered += b.delivered;
  into.failed += b.failed;
  if (b.latency) {
    into.latency ??= new Uint32Array(LATENCY_BOUNDS.length + 1);
    for (let i = 0; i < b.latency.length; i++) into.latency[i]! += b.latency[i]!;
  }
  const add = (x: number | null, y: number | null) => (y === null ? x : (x ?? 0) + y);
  into.depth = add(into.depth, b.depth);
  into.inFlight = add(into.inFlight, b.inFlight);
  into.oldestAgeMs = b.oldestAgeMs === null ? into.oldestAgeMs : Math.max(into.oldestAgeMs ?? 0, b.oldestAgeMs);
  into.breaker = b.breaker === null ? into.breaker : Math.max(into.breaker ?? 0, b.breaker);
}

function latencySlot(ms: number): number {
  let lo = 0;
  let hi = LATENCY_BOUNDS.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (LATENCY_BOUNDS[mid]! >= ms) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** The upper bound of the histogram slot holding the q-quantile: an estimate within one ×1.5 step. */
function quantile(counts: Uint32Array, q: number): number | null {
  let total = 0;
  for (const c of counts) total += c;
  if (total === 0) return null;
  const rank = Math.ceil(q * total);
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    seen += counts[i]!;
    if (seen >= rank) return LATENCY_BOUNDS[Math.min(i, LATENCY_BOUNDS.length - 1)]!;
  }
  return LATENCY_BOUNDS[LATENCY_BOUNDS.length - 1]!;
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
