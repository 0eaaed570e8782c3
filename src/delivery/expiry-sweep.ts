import type { ExpiredDelivery, Store } from '../storage/port.js';

/** Deliveries expired per store call; a full batch is followed at once by the next. */
const BATCH = 1_000;

export interface ExpirySweep {
  start(): void;
  /** Stops the timer and waits for a sweep under way. */
  stop(): Promise<void>;
  /** One sweep now, until nothing expired is left (tests and start-up). */
  run(): Promise<number>;
}

/**
 * Dead-letters expired messages (reason `expired`) every `intervalMs`, on every queue, paused or
 * not, claimed again or not: claims skip an expired message, so this is what takes it out. Every
 * instance sweeps; on PostgreSQL they skip the rows another holds.
 */
export function createExpirySweep(options: {
  store: Pick<Store, 'expire'>;
  intervalMs: number;
  onExpired: (expired: ExpiredDelivery[]) => void;
  onError: (error: unknown) => void;
}): ExpirySweep {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<number> | null = null;

  async function sweep(): Promise<number> {
    let total = 0;
    for (;;) {
      const expired = await options.store.expire(BATCH);
      total += expired.length;
      if (expired.length > 0) options.onExpired(expired);
      if (expired.length < BATCH) return total;
    }
  }

  function run(): Promise<number> {
    running ??= sweep().finally(() => {
      running = null;
    });
    return running;
  }

  return {
    start() {
      timer = setInterval(() => void run().catch(options.onError), options.intervalMs);
      timer.unref();
    },
    async stop() {
      if (timer) clearInterval(timer);
      await running?.catch(() => undefined);
    },
    run,
  };
}
