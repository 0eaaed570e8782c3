import { createExclusivityMonitor, type Exclusivity } from './exclusivity.js';
import { createIdempotentLedger, type IdempotentLedger } from './idempotent-ledger.js';
import { isAccepted, type Outcome, type OverlapViolation, type RequestRecord } from './request-record.js';

/** The receiver fills a record in as the request progresses; users only ever see it read-only. */
export type MutableRecord = { -readonly [K in keyof RequestRecord]: RequestRecord[K] };

/** Every request a receiver saw, which are still pending, and what was acknowledged. */
export interface RecordBook {
  all(): readonly MutableRecord[];
  pending(): MutableRecord[];
  isPending(record: MutableRecord): boolean;
  /** Registers a started request; `dispose` runs once when it ends. */
  begin(record: MutableRecord, dispose: () => void): void;
  /** Notes that the request was read and its fault chosen. */
  decided(record: MutableRecord): void;
  /** Ends a pending request; later calls for the same request are ignored (first cause wins). */
  end(record: MutableRecord, outcome: Outcome, status?: number): void;
  /** Acknowledgements at `target`, or at every target. */
  ledger(target?: string): IdempotentLedger;
  overlaps(): OverlapViolation[];
}

export interface RecordBookOptions {
  now: () => number;
  exclusive: Exclusivity;
  /** Called after every change a waiter may be waiting for. */
  onChange: () => void;
}

export function createRecordBook({ now, exclusive, onChange }: RecordBookOptions): RecordBook {
  const all: MutableRecord[] = [];
  const pending = new Map<MutableRecord, () => void>();
  const everywhere = createIdempotentLedger();
  const perTarget = new Map<string, IdempotentLedger>();
  const exclusivity = createExclusivityMonitor(exclusive);

  const acknowledge = (record: MutableRecord): void => {
    let ledger = perTarget.get(record.target);
    if (!ledger) perTarget.set(record.target, (ledger = createIdempotentLedger()));
    for (const { id } of record.events) {
      everywhere.apply(id);
      ledger.apply(id);
    }
  };

  return {
    all: () => all,
    pending: () => [...pending.keys()],
    isPending: (record) => pending.has(record),
    begin(record, dispose) {
      all.push(record);
      pending.set(record, dispose);
    },
    decided(record) {
      exclusivity.enter(record);
      onChange();
    },
    end(record, outcome, status) {
      const dispose = pending.get(record);
      if (!dispose) return;
      pending.delete(record);
      dispose();
      record.endedAt = now();
      record.outcome = outcome;
      if (status !== undefined) record.status = status;
      if (record.fault) exclusivity.leave(record);
      if (isAccepted(record)) acknowledge(record);
      onChange();
    },
    ledger: (target) => (target === undefined ? everywhere : (perTarget.get(target) ?? createIdempotentLedger())),
    overlaps: () => exclusivity.violations(),
  };
}
