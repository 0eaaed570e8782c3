/**
 * Collects the calls made during one turn of the event loop and runs them as one batch: many
 * concurrent sends share one durable commit (group commit), many settlements one transaction.
 * A batch's flush may answer some items later than the rest (a promise in place of a result):
 * each call then resolves once its own items have, not when the last of the batch has.
 */
export interface TickBatcher<I, O> {
  push(items: readonly I[]): Promise<O[]>;
}

interface Pending<I, O> {
  items: readonly I[];
  keys: ReadonlySet<string>;
  resolve: (value: O[]) => void;
  reject: (error: unknown) => void;
}

export interface TickBatcherOptions<I> {
  /** A batch this large runs at once instead of waiting for the end of the turn. Default 5,000. */
  maxItems?: number;
  /**
   * What an item may wait for a lock on (a topic, a fifo key, a message id). A call whose items
   * share a key with a batch still running waits for that batch and goes in a later one; the
   * others go at once, as ever. Calls that meet a lock held for long (an application's open
   * outbox transaction) then wait on one connection per key, not on one per turn of the event
   * loop for as long as the lock is held. Default: none, every batch goes at once.
   */
  keysOf?: (item: I) => string;
}

export function createTickBatcher<I, O>(flush: (items: I[]) => Array<O | Promise<O>> | Promise<Array<O | Promise<O>>>, options: TickBatcherOptions<I> = {}): TickBatcher<I, O> {
  const maxItems = options.maxItems ?? 5_000;
  const keysOf = options.keysOf;
  let queue: Pending<I, O>[] = [];
  let count = 0;
  let scheduled = false;
  /** Keys of the batches running now. */
  const busy = new Map<string, number>();

  /** The calls that may go now; the others stay queued, in their order. */
  function takeReady(): Pending<I, O>[] {
    if (!keysOf || busy.size === 0) {
      const all = queue;
      queue = [];
      return all;
    }
    const ready: Pending<I, O>[] = [];
    const waiting: Pending<I, O>[] = [];
    // A key held back stays held back for the later calls too: each key keeps its calls' order.
    const held = new Set<string>();
    for (const pending of queue) {
      if ([...pending.keys].some((k) => busy.has(k) || held.has(k))) {
        waiting.push(pending);
        for (const k of pending.keys) held.add(k);
      } else {
        ready.push(pending);
      }
    }
    queue = waiting;
    return ready;
  }

  async function run(): Promise<void> {
    scheduled = false;
    const batch = takeReady();
    count = queue.reduce((n, p) => n + p.items.length, 0);
    if (batch.length === 0) return;
    const keys = batch.flatMap((p) => [...p.keys]);
    for (const k of keys) busy.set(k, (busy.get(k) ?? 0) + 1);
    const all: I[] = [];
    for (const pending of batch) for (const item of pending.items) all.push(item);
    try {
      const results = await flush(all);
      let offset = 0;
      for (const pending of batch) {
        Promise.all(results.slice(offset, offset + pending.items.length)).then(pending.resolve, pending.reject);
        offset += pending.items.length;
      }
    } catch (error) {
      for (const pending of batch) pending.reject(error);
    } finally {
      for (const k of keys) {
        const n = busy.get(k)! - 1;
        if (n === 0) busy.delete(k);
        else busy.set(k, n);
      }
      // Calls that waited for this batch go now, together.
      if (queue.length > 0 && !scheduled) void run();
    }
  }

  return {
    push(items) {
      return new Promise<O[]>((resolve, reject) => {
        queue.push({ items, keys: new Set(keysOf ? items.map(keysOf) : []), resolve, reject });
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
