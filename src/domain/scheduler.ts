import type { FakeClock } from './clock.js';

/**
 * Timers are injected like the clock: the dispatcher asks a scheduler for its timeouts, intervals
 * and next turns of the event loop, so its tests drive time with a fake clock and run in
 * milliseconds instead of waiting.
 */
export interface Scheduler {
  /** Runs `fn` once after `ms`; the returned function cancels it. */
  timeout(fn: () => void, ms: number): () => void;
  /** Runs `fn` every `ms` until cancelled. */
  interval(fn: () => void, ms: number): () => void;
  /** Runs `fn` on the next turn of the event loop, after pending I/O. */
  immediate(fn: () => void): void;
}

export const systemScheduler: Scheduler = {
  timeout(fn, ms) {
    const handle = setTimeout(fn, ms);
    return () => clearTimeout(handle);
  },
  interval(fn, ms) {
    const handle = setInterval(fn, ms);
    return () => clearInterval(handle);
  },
  immediate(fn) {
    setImmediate(fn);
  },
};

/** A scheduler that only moves when told to, together with a fake clock. */
export interface FakeScheduler extends Scheduler {
  /**
   * Runs what is due: queued immediates, then timers in time order up to `ms` from now, moving
   * the clock to each timer's time, and lets promises settle after each step.
   */
  advance(ms?: number): Promise<void>;
  /** Runs queued immediates and lets promises settle until nothing is left to run now. */
  settle(): Promise<void>;
  /** Timers waiting (timeouts and intervals), for asserting that nothing is left running. */
  pending(): number;
}

interface FakeTimer {
  id: number;
  at: number;
  fn: () => void;
  every: number | null;
}

export function createFakeScheduler(clock: FakeClock): FakeScheduler {
  let nextId = 0;
  const timers = new Map<number, FakeTimer>();
  let immediates: Array<() => void> = [];

  // A real turn of the event loop: promise chains and I/O callbacks (a store's own batching) run.
  const realTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

  async function settle(): Promise<void> {
    for (let round = 0; round < 10_000; round++) {
      await realTurn();
      if (immediates.length === 0) {
        await realTurn();
        if (immediates.length === 0) return;
      }
      const batch = immediates;
      immediates = [];
      for (const fn of batch) fn();
    }
    throw new Error('the fake scheduler kept finding work after 10,000 rounds (a loop of immediates?)');
  }

  function add(fn: () => void, ms: number, every: number | null): () => void {
    const id = nextId++;
    timers.set(id, { id, at: clock.now() + Math.max(0, ms), fn, every });
    return () => timers.delete(id);
  }

  return {
    timeout: (fn, ms) => add(fn, ms, null),
    interval: (fn, ms) => add(fn, ms, Math.max(1, ms)),
    immediate(fn) {
      immediates.push(fn);
    },
    settle,
    async advance(ms = 0) {
      const until = clock.now() + ms;
      await settle();
      for (;;) {
        let due: FakeTimer | undefined;
        for (const t of timers.values()) if (t.at <= until && (!due || t.at < due.at || (t.at === due.at && t.id < due.id))) due = t;
        if (!due) break;
        if (due.at > clock.now()) clock.set(due.at);
        if (due.every === null) timers.delete(due.id);
        else due.at += due.every;
        due.fn();
        await settle();
      }
      if (until > clock.now()) clock.set(until);
    },
    pending: () => timers.size,
  };
}
