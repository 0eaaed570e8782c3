export interface WaiterOptions {
  /** Default 10 000 ms. */
  timeoutMs?: number;
  /** Said in the timeout error. */
  description?: string;
}

/** Promises that resolve when a condition holds, re-checked by whoever changes the state. */
export interface Waiters {
  add(condition: () => boolean, options?: WaiterOptions): Promise<void>;
  /** Re-checks every pending condition. */
  check(): void;
  /** Rejects every pending waiter and clears its timer. */
  rejectAll(error: Error): void;
}

interface Waiter {
  readonly condition: () => boolean;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
  readonly timer: NodeJS.Timeout;
}

const DEFAULT_TIMEOUT_MS = 10_000;

export function createWaiters(describeState: () => string): Waiters {
  const waiting = new Set<Waiter>();

  const settle = (waiter: Waiter): void => {
    waiting.delete(waiter);
    clearTimeout(waiter.timer);
  };

  // True when the waiter is done (its condition held or threw).
  const test = (waiter: Pick<Waiter, 'condition' | 'reject'>): boolean => {
    try {
      return waiter.condition();
    } catch (error) {
      waiter.reject(error);
      return true;
    }
  };

  return {
    add(condition, options = {}) {
      return new Promise<void>((resolve, reject) => {
        if (test({ condition, reject })) return resolve();
        const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
        const timer = setTimeout(() => {
          settle(waiter);
          const what = options.description ? ` for ${options.description}` : '';
          reject(new Error(`timed out after ${timeoutMs} ms waiting${what}: ${describeState()}`));
        }, timeoutMs);
        const waiter: Waiter = { condition, resolve, reject, timer };
        waiting.add(waiter);
      });
    },
    check() {
      for (const waiter of [...waiting]) {
        if (!test(waiter)) continue;
        settle(waiter);
        waiter.resolve();
      }
    },
    rejectAll(error) {
      for (const waiter of [...waiting]) {
        settle(waiter);
        waiter.reject(error);
      }
    },
  };
}
