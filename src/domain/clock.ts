/** Time and randomness are injected so policies and leases can be tested exactly with a fake clock. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

/** A source of uniformly distributed numbers in [0, 1). */
export type Random = () => number;

export const systemClock: Clock = { now: () => Date.now() };

/** A clock that only moves when told to: for tests of retry, backoff, leases and breakers. */
export interface FakeClock extends Clock {
  advance(ms: number): void;
  set(ms: number): void;
}

export function createFakeClock(start = 1_700_000_000_000): FakeClock {
  let current = start;
  return {
    now: () => current,
    advance: (ms) => {
      current += ms;
    },
    set: (ms) => {
      current = ms;
    },
  };
}
