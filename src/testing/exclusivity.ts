import type { OverlapViolation, RequestRecord } from './request-record.js';

/**
 * Which requests must never be in flight together:
 * - `none`: no check (queues);
 * - `key`: two requests to one target carrying the same key (fifo queues, `key`-ordered subscriptions);
 * - `target`: any two requests to one target (`topic`-ordered subscriptions).
 */
export type Exclusivity = 'none' | 'key' | 'target';

export interface ExclusivityMonitor {
  /** Called once the request's events are known. */
  enter(record: RequestRecord): void;
  /** Called when the request has ended (`endedAt` set). */
  leave(record: RequestRecord): void;
  violations(): OverlapViolation[];
}

export function createExclusivityMonitor(mode: Exclusivity): ExclusivityMonitor {
  const active = new Map<string, Set<RequestRecord>>();
  // The latest-ending finished request per scope: a request whose body was read after that
  // one ended may still have started before it ended.
  const lastEnded = new Map<string, RequestRecord>();
  const entered = new WeakMap<RequestRecord, string[]>();
  const found: OverlapViolation[] = [];

  const scopesOf = (record: RequestRecord): Array<{ scope: string; key?: string }> => {
    if (mode === 'none') return [];
    if (mode === 'target') return [{ scope: record.target }];
    const keys = new Set(record.events.flatMap((e) => (e.key === undefined ? [] : [e.key])));
    return [...keys].map((key) => ({ scope: `${record.target}\u0000${key}`, key }));
  };

  const report = (a: RequestRecord, b: RequestRecord, key: string | undefined): void => {
    const [first, second] = a.startedAt <= b.startedAt ? [a, b] : [b, a];
    found.push({ target: b.target, key, first: first.index, second: second.index, at: second.startedAt });
  };

  return {
    enter(record) {
      const scopes = scopesOf(record);
      entered.set(record, scopes.map((s) => s.scope));
      for (const { scope, key } of scopes) {
        let set = active.get(scope);
        if (!set) active.set(scope, (set = new Set()));
        for (const other of set) report(other, record, key);
        const ended = lastEnded.get(scope);
        if (ended && (ended.endedAt ?? 0) > record.startedAt) report(ended, record, key);
        set.add(record);
      }
    },
    leave(record) {
      for (const scope of entered.get(record) ?? []) {
        active.get(scope)?.delete(record);
        const ended = lastEnded.get(scope);
        if (!ended || (ended.endedAt ?? 0) < (record.endedAt ?? 0)) lastEnded.set(scope, record);
      }
    },
    violations: () => [...found],
  };
}
