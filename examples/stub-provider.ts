/**
 * A stand-in for a third-party email or SMS provider that fails now and then, the way real ones
 * do: mostly "busy, come back in a second" (503 with Retry-After), sometimes a plain 500.
 * Seeded, so a run of the example can be replayed.
 */

export type ProviderOutcome = { ok: true } | { ok: false; status: 503; retryAfterSeconds: number } | { ok: false; status: 500 };

export interface StubProvider {
  send(): ProviderOutcome;
}

/**
 * Fails `failureRate` of the calls: two thirds of the failures are 503 + `Retry-After: 1`, one
 * third 500 (so both the Retry-After path and plain backoff show up in the logs).
 */
export function createStubProvider(options: { failureRate: number; random: () => number }): StubProvider {
  const busyRate = (options.failureRate * 2) / 3;
  return {
    send() {
      const draw = options.random();
      if (draw < busyRate) return { ok: false, status: 503, retryAfterSeconds: 1 };
      if (draw < options.failureRate) return { ok: false, status: 500 };
      return { ok: true };
    },
  };
}
