/**
 * What an idempotent endpoint keeps: how many times each id was applied. An endpoint that
 * deduplicates on `Idempotency-Key` applies an id once and acknowledges repeats; the ledger
 * makes "applied exactly once" checkable and shows which ids arrived (and were acknowledged)
 * more than once.
 */
export interface IdempotentLedger {
  /** Records one application; true the first time `id` is applied. */
  apply(id: string): boolean;
  /** How many times `id` was applied (0 if never). */
  count(id: string): number;
  /** True when `id` was applied exactly once. */
  appliedOnce(id: string): boolean;
  /** Ids in the order of their first application. */
  ids(): string[];
  /** Ids applied more than once, in the order of their first application. */
  duplicates(): string[];
  /** A live, read-only view of the counts: cheap to consult on every request. */
  counts(): ReadonlyMap<string, number>;
  /** Distinct ids applied. */
  readonly size: number;
}

export function createIdempotentLedger(): IdempotentLedger {
  const counts = new Map<string, number>();
  return {
    apply(id) {
      const before = counts.get(id) ?? 0;
      counts.set(id, before + 1);
      return before === 0;
    },
    count: (id) => counts.get(id) ?? 0,
    appliedOnce: (id) => counts.get(id) === 1,
    ids: () => [...counts.keys()],
    duplicates: () => [...counts].filter(([, n]) => n > 1).map(([id]) => id),
    counts: () => counts,
    get size() {
      return counts.size;
    },
  };
}
