import type { Statements } from './statements.js';

export interface CountChange {
  depth?: number;
  inFlight?: number;
  delivered?: number;
  deadlettered?: number;
  skipped?: number;
  /** Subscriptions: the sequence of a delivered event (the counter keeps the highest). */
  sequence?: number;
}

type Totals = Required<CountChange>;

/** Changes to the per-target counters collected during one transaction, written once per target before it commits. */
export interface Tally {
  add(targetId: number, change: CountChange): void;
  /** Writes the collected changes, inside the caller's transaction. */
  flush(): void;
}

export function createTally(sql: Pick<Statements, 'count'>): Tally {
  const pending = new Map<number, Totals>();
  return {
    add(targetId, c) {
      const t = pending.get(targetId) ?? { depth: 0, inFlight: 0, delivered: 0, deadlettered: 0, skipped: 0, sequence: 0 };
      t.depth += c.depth ?? 0;
      t.inFlight += c.inFlight ?? 0;
      t.delivered += c.delivered ?? 0;
      t.deadlettered += c.deadlettered ?? 0;
      t.skipped += c.skipped ?? 0;
      t.sequence = Math.max(t.sequence, c.sequence ?? 0);
      pending.set(targetId, t);
    },
    flush() {
      for (const [targetId, t] of pending) {
        if (t.depth !== 0 || t.inFlight !== 0 || t.delivered !== 0 || t.deadlettered !== 0 || t.skipped !== 0 || t.sequence !== 0) sql.count.run({ ...t, targetId });
      }
      pending.clear();
    },
  };
}
