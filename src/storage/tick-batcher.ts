/**
 * Collects the calls made during one turn of the event loop and runs them as one batch: many
 * concurrent sends share one durable commit (group commit), many settlements one transaction.
 */
export interface TickBatcher<I, O> {
  push(items: readonly I[]): Promise<O[]>;
}

interface Pending<I, O> {
  items: readonly I[];
  resolve: (value: O[]) => void;
  reject: (error: unknown) => void;
}

export interface TickBatcherOptions {
  /** A batch this large runs at once instead of waiting for the end of the turn. Default 5,000. */
  maxItems?: number;
  /**
   * One batch at a time: calls made while a batch runs wait for it and go together in the next.
   * A batch that waits for a lock (an application's open transaction) then holds one connection,
   * not one per turn of the event loop for as long as the lock is held. Default false.
   */
  serial?: boolean;
}

export function createTickBatcher<I, O>(flush: (items: I[]) => O[] | Promise<O[]>, options: TickBatcherOptions = {}): TickBatcher<I, O> {
  const maxItems = options.maxItems ?? 5_000;
  let queue: Pending<I, O>[] = [];
  let count = 0;
  let scheduled = false;
  let running = false;

  async function run(): Promise<void> {
    scheduled = false;
    if (queue.length === 0 || (options.serial && running)) return;
    running = true;
    const batch = queue;
    queue = [];
    count = 0;
    const all: I[] = [];
    for (const pending of batch) for (const item of pending.items) all.push(item);
    try {
      const results = await flush(all);
      let offset = 0;
      for (const pending of batch) {
        pending.resolve(results.slice(offset, offset + pending.items.length));
        offset += pending.items.length;
      }
    } catch (error) {
      for (const pending of batch) pending.reject(error);
    } finally {
      running = false;
      // What came in meanwhile (serial) goes now, as one batch.
      if (options.serial && queue.length > 0 && !scheduled) void run();
    }
  }

  return {
    push(items) {
      return new Promise<O[]>((resolve, reject) => {
        queue.push({ items, resolve, reject });
        count += items.length;
        if (count >= maxItems) {
          void run();
        } else if (!scheduled) {
          scheduled = true;
          setImmediate(() => void run());
        }
      });
    },
  };
}
