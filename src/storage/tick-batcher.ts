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

export function createTickBatcher<I, O>(flush: (items: I[]) => O[] | Promise<O[]>, maxItems = 5_000): TickBatcher<I, O> {
  let queue: Pending<I, O>[] = [];
  let count = 0;
  let scheduled = false;

  async function run(): Promise<void> {
    scheduled = false;
    if (queue.length === 0) return;
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
