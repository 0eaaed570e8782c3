import type { Fault } from './faults.js';
import type { Decider, ReceivedRequest } from './request-record.js';

/**
 * Building blocks for a receiver's `decide`. Each returns `undefined` for requests it does
 * not care about, so rules compose with `firstOf` and fall through to the receiver default.
 */

/** mulberry32: tiny, fast and good enough to make fault schedules reproducible from a seed. */
export function createSeededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Optional narrowing shared by the helpers: only requests carrying one of these ids or keys. */
export interface RequestFilter {
  readonly ids?: Iterable<string>;
  readonly keys?: Iterable<string>;
  readonly targets?: Iterable<string>;
}

type Matcher = (request: ReceivedRequest) => boolean;

function matcher(filter: RequestFilter | undefined): Matcher {
  const ids = filter?.ids ? new Set(filter.ids) : undefined;
  const keys = filter?.keys ? new Set(filter.keys) : undefined;
  const targets = filter?.targets ? new Set(filter.targets) : undefined;
  return (request) =>
    (!targets || targets.has(request.target)) &&
    (!ids || request.events.some((event) => ids.has(event.id))) &&
    (!keys || request.events.some((event) => event.key !== undefined && keys.has(event.key)));
}

/** The first rule that returns a fault wins. */
export function firstOf(...rules: readonly Decider[]): Decider {
  return (request) => {
    for (const rule of rules) {
      const fault = rule(request);
      if (fault) return fault;
    }
    return undefined;
  };
}

/** Every matching request gets `fault`. */
export function always(fault: Fault, filter?: RequestFilter): Decider {
  const matches = matcher(filter);
  return (request) => (matches(request) ? fault : undefined);
}

/** Requests carrying any of `ids` get `fault`. */
export function forIds(ids: Iterable<string>, fault: Fault): Decider {
  return always(fault, { ids });
}

/** Requests carrying any of `keys` (subject / partition key) get `fault`. */
export function forKeys(keys: Iterable<string>, fault: Fault): Decider {
  return always(fault, { keys });
}

/**
 * The first `count` matching requests carrying each id get `fault`, later ones fall through.
 * Counted by the receiver, not by `deliveryattempt`, so it also holds for redeliveries after
 * a crash, where the sender's attempt numbering is what is under test.
 */
export function firstAttempts(count: number, fault: Fault, filter?: RequestFilter): Decider {
  const matches = matcher(filter);
  const seen = new Map<string, number>();
  return (request) => {
    if (!matches(request)) return undefined;
    let failing = false;
    for (const { id } of request.events) {
      const before = seen.get(id) ?? 0;
      seen.set(id, before + 1);
      if (before < count) failing = true;
    }
    return failing ? fault : undefined;
  };
}

export interface ProbabilityOptions {
  readonly seed: number;
  /** Checked in order; probabilities add up (their sum must not exceed 1); the rest falls through. */
  readonly faults: ReadonlyArray<{ readonly probability: number; readonly fault: Fault }>;
  readonly filter?: RequestFilter;
}

/** Random faults from a seeded generator, so a failing run can be replayed. */
export function byProbability(options: ProbabilityOptions): Decider {
  const total = options.faults.reduce((sum, entry) => sum + entry.probability, 0);
  if (total > 1 + 1e-9) throw new RangeError(`fault probabilities add up to ${total}, more than 1`);
  const random = createSeededRandom(options.seed);
  const matches = matcher(options.filter);
  return (request) => {
    if (!matches(request)) return undefined;
    let draw = random();
    for (const entry of options.faults) {
      if (draw < entry.probability) return entry.fault;
      draw -= entry.probability;
    }
    return undefined;
  };
}

/** Matching requests get `fault` until `deadline` (epoch ms or a Date on the `now` clock). */
export function until(
  deadline: number | Date,
  fault: Fault,
  options: RequestFilter & { readonly now?: () => number } = {},
): Decider {
  const end = deadline instanceof Date ? deadline.getTime() : deadline;
  const now = options.now ?? Date.now;
  const matches = matcher(options);
  return (request) => (matches(request) && now() < end ? fault : undefined);
}

/** Each request takes the next fault of the script; once it runs out, requests fall through. */
export function scripted(faults: readonly Fault[], filter?: RequestFilter): Decider {
  const matches = matcher(filter);
  let next = 0;
  return (request) => {
    if (!matches(request) || next >= faults.length) return undefined;
    return faults[next++];
  };
}

/** A fault that holds until a test releases it, e.g. "fail event X until the operator acts". */
export interface FaultSwitch {
  readonly decide: Decider;
  readonly engaged: boolean;
  release(): void;
  engage(): void;
}

export function createFaultSwitch(fault: Fault, options: RequestFilter & { readonly engaged?: boolean } = {}): FaultSwitch {
  let engaged = options.engaged ?? true;
  const matches = matcher(options);
  return {
    decide: (request) => (engaged && matches(request) ? fault : undefined),
    get engaged() {
      return engaged;
    },
    release: () => {
      engaged = false;
    },
    engage: () => {
      engaged = true;
    },
  };
}
