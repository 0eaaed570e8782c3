import type { Clock } from '../domain/clock.js';
import { StoreUnavailableError } from '../domain/errors.js';
import { assessDrain, type DrainAssessment, type HeldReason, type UndeliveredReason } from '../domain/drain.js';
import type { MessageStatus } from '../domain/message.js';
import type { DeliveryView, LiveDelivery, Store } from '../storage/port.js';

/** Limits of one drain (README, limits table). */
export const DRAIN_LIMITS = {
  /** Live deliveries a drain follows; with more it cannot tell when they are done. */
  live: 50_000,
  /** Undelivered messages listed in the answer (the counts cover all of them). */
  listed: 1_000,
} as const;

export interface DrainRequest {
  /** Queues, `topic/subscription` targets and internal notification queues to drain. */
  targets: readonly string[];
  timeoutMs: number;
  /** Make waiting retries due now, round after round, instead of waiting for their backoff. */
  skipBackoff: boolean;
  /** Rounds at most: a round delivers what was due at its start; work created meanwhile is the next round's. */
  maxRounds: number;
}

export interface UndeliveredItem {
  id: string;
  channel: string;
  target: string;
  key: string | null;
  type: string;
  status: MessageStatus;
  reason: UndeliveredReason;
  attempts: number;
  /** When it is tried next (live deliveries); null for dead-lettered and skipped ones. */
  availableAt: number | null;
  lastError: string | null;
  /**
   * Awaiting completion (answered 202): the token of the deferred call, for a test to complete it
   * with (`POST /v1/deliveries/{token}/complete`) as the endpoint's work would. On the first
   * delivery of a deferred batch only.
   */
  completionToken?: string;
}

export interface DrainResult {
  /** Nothing of these targets is due or in flight (and, with skipBackoff, no retry waits). */
  complete: boolean;
  /** Why the drain ended before that: its timeout ran out, or its round limit was reached. */
  stoppedBy: 'timeout' | 'rounds' | null;
  rounds: number;
  elapsedMs: number;
  targets: string[];
  /** What is not delivered and why, in target, lane and position order; dead letters and skipped messages last. */
  undelivered: UndeliveredItem[];
  counts: Partial<Record<UndeliveredReason, number>>;
  /** More were undelivered than listed. */
  truncated: boolean;
}

export interface DrainerOptions {
  store: Store;
  clock: Clock;
  /** Tells the dispatcher that these targets may have work now. */
  wake(targets: readonly string[]): void;
  /** Calls the listener after every delivery outcome and accepted send. */
  subscribe(listener: () => void): () => void;
  /** Resolves once work Offload creates itself (notifications) has been stored. */
  settled(): Promise<void>;
  /** Dead-letters expired messages now (the expiry sweep), so a drain neither waits for nor delivers them. */
  expire(): Promise<unknown>;
  /** Targets whose endpoint's circuit breaker is open: nothing is sent there now, so a drain does not wait for them. */
  held(): ReadonlyMap<string, HeldReason>;
  /** Re-check without an event, for deliveries settled by other instances. */
  recheckMs: number;
  /** A completion token for a deferred call's lease (undefined until the store's key is loaded). */
  mint?: (lease: { deliveryId: number; epoch: number }) => string | undefined;
}

export interface Drainer {
  drain(request: DrainRequest): Promise<DrainResult>;
  /** Ends the drains under way (they fail with `store_unavailable`: Offload is stopping) and refuses new ones. */
  close(): void;
}

interface Look {
  live: LiveDelivery[];
  assessment: DrainAssessment<LiveDelivery>;
  /** More live deliveries than a drain follows: never counted as done. */
  overflow: boolean;
}

/** Delivers everything due on some targets now, then reports what is left (src/domain/drain.ts explains the rounds). */
export function createDrainer(options: DrainerOptions): Drainer {
  const { store, clock } = options;
  const waiting = new Set<(done: boolean) => void>();
  let closed = false;
  const stopping = () => new StoreUnavailableError('Offload is stopping; the drain ended early');

  async function look(targets: readonly string[], upTo: number | null): Promise<Look> {
    await options.expire();
    await options.settled();
    const live = await store.listLive(targets, DRAIN_LIMITS.live + 1);
    const overflow = live.length > DRAIN_LIMITS.live;
    if (overflow) live.length = DRAIN_LIMITS.live;
    return { live, overflow, assessment: assessDrain(live, { now: clock.now(), held: options.held(), upTo }) };
  }

  /**
   * Resolves true once nothing up to the watermark is due or in flight, false at the deadline.
   * Looks again after every local event, and every `recheckMs` for what other instances settle.
   */
  function quiet(targets: readonly string[], upTo: number, deadline: number): Promise<boolean> {
    return new Promise((resolve) => {
      let running = false;
      let again = false;
      let finished = false;
      const finish = (done: boolean) => {
        if (finished) return;
        finished = true;
        waiting.delete(finish);
        unsubscribe();
        clearInterval(recheck);
        clearTimeout(timer);
        resolve(done);
      };
      const check = async (): Promise<void> => {
        if (finished) return;
        if (running) {
          again = true;
          return;
        }
        running = true;
        try {
          do {
            again = false;
            const { assessment, overflow } = await look(targets, upTo);
            if (!overflow && assessment.busy === 0) finish(true);
          } while (again && !finished);
        } catch {
          // The store failed for a moment: the next event or re-check looks again.
        } finally {
          running = false;
        }
      };
      const unsubscribe = options.subscribe(() => void check());
      const recheck = setInterval(() => void check(), options.recheckMs);
      const timer = setTimeout(() => finish(false), Math.max(0, deadline - clock.now()));
      waiting.add(finish);
      void check();
    });
  }

  async function report(request: DrainRequest, last: Look): Promise<Pick<DrainResult, 'undelivered' | 'counts' | 'truncated'>> {
    const counts: Partial<Record<UndeliveredReason, number>> = {};
    const add = (reason: UndeliveredReason, n = 1) => {
      if (n > 0) counts[reason] = (counts[reason] ?? 0) + n;
    };
    const undelivered: UndeliveredItem[] = [];
    for (const { delivery: d, reason } of last.assessment.items) {
      add(reason);
      if (undelivered.length < DRAIN_LIMITS.listed) {
        const item: UndeliveredItem = { id: d.messageId, channel: d.channel, target: d.target, key: d.key, type: d.type, status: d.status, reason, attempts: d.attempts, availableAt: d.availableAt, lastError: d.lastError };
        const token = d.deferredUntil !== null && (d.lane === null || d.head) ? options.mint?.({ deliveryId: d.deliveryId, epoch: d.epoch }) : undefined;
        if (token !== undefined) item.completionToken = token;
        undelivered.push(item);
      }
    }
    const stats = new Map((await store.stats()).map((s) => [s.name, s]));
    for (const target of request.targets) {
      const s = stats.get(target);
      for (const [reason, n, list] of [
        ['deadlettered', s?.deadLettered ?? 0, store.listDeadLetters.bind(store)],
        ['skipped', s?.skipped ?? 0, store.listSkipped.bind(store)],
      ] as const) {
        add(reason, n);
        const room = DRAIN_LIMITS.listed - undelivered.length;
        if (n === 0 || room <= 0) continue;
        for (const d of (await list(target, { limit: room })).items) undelivered.push(finalItem(d, reason));
      }
    }
    const total = Object.values(counts).reduce((sum, n) => sum + n, 0);
    return { undelivered, counts, truncated: last.overflow || total > undelivered.length };
  }

  return {
    async drain(request) {
      if (closed) throw stopping();
      const started = clock.now();
      const deadline = started + request.timeoutMs;
      let rounds = 0;
      let stoppedBy: DrainResult['stoppedBy'] = null;
      let last: Look;
      for (;;) {
        if (request.skipBackoff) await store.hurryRetries(request.targets);
        last = await look(request.targets, null);
        const { busy, waitingRetries } = last.assessment;
        if (!last.overflow && busy === 0 && !(request.skipBackoff && waitingRetries > 0)) break;
        if (rounds >= request.maxRounds) {
          stoppedBy = 'rounds';
          break;
        }
        rounds++;
        // Whatever exists now is this round's; anything created while it runs has a higher id.
        const upTo = last.live.reduce((max, d) => Math.max(max, d.deliveryId), 0);
        options.wake(request.targets);
        const done = await quiet(request.targets, upTo, deadline);
        if (closed) throw stopping();
        if (!done) {
          stoppedBy = 'timeout';
          last = await look(request.targets, null);
          break;
        }
      }
      return {
        complete: stoppedBy === null,
        stoppedBy,
        rounds,
        elapsedMs: Math.max(0, clock.now() - started),
        targets: [...request.targets],
        ...(await report(request, last)),
      };
    },
    close() {
      closed = true;
      for (const finish of [...waiting]) finish(false);
    },
  };
}

function finalItem(d: DeliveryView, reason: 'deadlettered' | 'skipped'): UndeliveredItem {
  return { id: d.message.id, channel: d.message.channel, target: d.target, key: d.message.key, type: d.message.type, status: d.status, reason, attempts: d.attempts, availableAt: null, lastError: d.lastError };
}
