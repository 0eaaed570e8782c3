/**
 * Circuit breaker per endpoint origin (SPEC §5). Closed: calls flow and outcomes are counted.
 * Open: no call is made, so waiting messages keep their attempts. After the cool-down one probe
 * goes through (half-open): success closes the circuit, failure opens it again.
 * Pure: time is passed in, so tests drive it with a fake clock.
 */
export interface BreakerPolicy {
  /** Consecutive failures that open the circuit. Default 20. */
  consecutiveFailures: number;
  /** Failure rate over `windowMs` that opens it, once `minimumCalls` were seen. Default 0.5. */
  failureRate: number;
  /** Default 30s. */
  windowMs: number;
  /** Default 50. */
  minimumCalls: number;
  /** How long the circuit stays open before a probe. Default 15s. */
  coolDownMs: number;
}

export const DEFAULT_BREAKER_POLICY: BreakerPolicy = { consecutiveFailures: 20, failureRate: 0.5, windowMs: 30_000, minimumCalls: 50, coolDownMs: 15_000 };

export type BreakerState = 'closed' | 'open' | 'half-open';

export interface BreakerTransition {
  from: BreakerState;
  to: BreakerState;
  reason: string;
}

export interface CircuitBreaker {
  state(now: number): BreakerState;
  /**
   * Calls `who` (a target) may start now: unlimited when closed, none when open, one probe when
   * half-open. After a failed probe, the next one is first offered to the origin's other targets
   * for PROBE_GRACE_MS: a target whose own messages fail (poison) does not take every probe while
   * another target's calls would show the endpoint works.
   */
  permits(now: number, who?: string): number;
  /** Marks calls as started (a half-open probe is then in flight, `who`'s). */
  started(count: number, now: number, who?: string): void;
  /**
   * Counts the outcome of `who`'s call; returns a transition when the state changed. Failures
   * that all come from one target while another target of the origin succeeded within the window
   * do not open the circuit: the endpoint works, that target's messages fail (they retry and
   * dead-letter on their own), and the other targets' traffic is not held back for them.
   */
  record(ok: boolean, now: number, who?: string): BreakerTransition | null;
  /**
   * A started call ended without telling whether the endpoint works (nothing reached it, or the
   * endpoint answered without accepting): not counted, and a half-open probe may go again.
   */
  release(now: number): void;
  /** When the open circuit lets a probe through (`who`'s, after its failed probe: the grace later), or null when not open. */
  openUntil(who?: string): number | null;
  /** Adopts the state another instance shared through the store. */
  adopt(state: 'open' | 'closed', openUntil: number | null, now: number): BreakerTransition | null;
  /** Time of the last transition, for display. */
  since(): number | null;
}

/** How long the target whose probe failed lets the others probe first. */
export const PROBE_GRACE_MS = 1_000;

export function createCircuitBreaker(policy: BreakerPolicy = DEFAULT_BREAKER_POLICY): CircuitBreaker {
  let open: number | null = null; // open until this time
  let probing = false;
  let prober: string | undefined;
  /** The target whose probe failed last: it waits PROBE_GRACE_MS into the next half-open. */
  let failedProber: string | undefined;
  /** Targets whose calls failed since the last success, and when each target last succeeded. */
  const failingSinceSuccess = new Set<string | undefined>();
  const succeededAt = new Map<string, number>();
  /** The failures since the last success are one target's own while another target of the origin works. */
  const confinedToOne = (now: number): boolean => {
    if (failingSinceSuccess.size !== 1) return false;
    const [only] = failingSinceSuccess;
    if (only === undefined) return false;
    for (const [who, at] of succeededAt) if (who !== only && at > now - policy.windowMs) return true;
    return false;
  };
  let consecutive = 0;
  let since: number | null = null;
  // Outcomes in the window, oldest first, with running counts so each record is O(1) amortized.
  const window: Array<{ at: number; ok: boolean }> = [];
  let head = 0;
  let failuresInWindow = 0;

  const stateAt = (now: number): BreakerState => (open === null ? 'closed' : now < open ? 'open' : 'half-open');

  function trip(now: number, reason: string): BreakerTransition {
    const from = stateAt(now);
    failedProber = from === 'half-open' ? prober : undefined;
    open = now + policy.coolDownMs;
    probing = false;
    since = now;
    return { from, to: 'open', reason };
  }

  function close(now: number): BreakerTransition {
    const from = stateAt(now);
    open = null;
    probing = false;
    failedProber = undefined;
    consecutive = 0;
    window.length = 0;
    head = 0;
    failuresInWindow = 0;
    since = now;
    return { from, to: 'closed', reason: 'probe succeeded' };
  }

  return {
    state: stateAt,
    permits(now, who) {
      const state = stateAt(now);
      if (state === 'closed') return Number.POSITIVE_INFINITY;
      if (state !== 'half-open' || probing) return 0;
      return who !== undefined && who === failedProber && now < open! + PROBE_GRACE_MS ? 0 : 1;
    },
    started(count, now, who) {
      if (count > 0 && stateAt(now) === 'half-open') {
        probing = true;
        prober = who;
      }
    },
    record(ok, now, who) {
      if (ok) {
        failingSinceSuccess.clear();
        if (who !== undefined) succeededAt.set(who, now);
      } else failingSinceSuccess.add(who);
      const state = stateAt(now);
      if (state === 'half-open') return ok ? close(now) : trip(now, 'probe failed');
      if (state === 'open') return null; // late answers of calls started before it opened
      while (head < window.length && window[head]!.at <= now - policy.windowMs) {
        if (!window[head]!.ok) failuresInWindow--;
        head++;
      }
      if (head > 1_024 && head * 2 > window.length) {
        window.splice(0, head);
        head = 0;
      }
      window.push({ at: now, ok });
      if (!ok) failuresInWindow++;
      consecutive = ok ? 0 : consecutive + 1;
      // Only a failure opens the circuit (a success in a window of failures says the endpoint works).
      if (ok || confinedToOne(now)) return null;
      if (consecutive >= policy.consecutiveFailures) return trip(now, `${consecutive} consecutive failures`);
      const calls = window.length - head;
      if (calls >= policy.minimumCalls && failuresInWindow / calls >= policy.failureRate) {
        return trip(now, `${failuresInWindow} of the last ${calls} calls failed`);
      }
      return null;
    },
    release(now) {
      if (stateAt(now) === 'half-open') probing = false;
    },
    openUntil: (who) => (open !== null && who !== undefined && who === failedProber ? open + PROBE_GRACE_MS : open),
    adopt(state, until, now) {
      if (state === 'open' && until !== null && until > now && (open === null || open < until)) {
        const from = stateAt(now);
        open = until;
        probing = false;
        since = now;
        return from === 'open' ? null : { from, to: 'open', reason: 'opened by another instance' };
      }
      if (state === 'closed' && open !== null) return close(now);
      return null;
    },
    since: () => since,
  };
}
