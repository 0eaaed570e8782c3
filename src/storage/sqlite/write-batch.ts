import type { Database as Db } from 'better-sqlite3';
import type { Clock } from '../../domain/clock.js';
import type { Claim, ClaimRequest, Settlement, SettleResult } from '../port.js';
import type { ChannelRow } from './channel-cache.js';
import { claim } from './claims.js';
import { createTally } from './counters.js';
import { settleAll } from './settle.js';
import type { Statements } from './statements.js';

/** Settlements, a claim, or both (a single-lane subscription going on to its next event). */
export interface WriteOp {
  settlements: readonly Settlement[];
  claim: { target: ChannelRow; request: ClaimRequest } | null;
}

export interface WriteResult {
  results: SettleResult[];
  claims: Claim[];
}

export interface WriteBatch {
  /** Runs with the other writes of this turn of the event loop. */
  push(op: WriteOp): Promise<WriteResult>;
  /** Runs with the writes already waiting for this turn, or at once (its own transaction) when none wait. */
  pushOrRun(op: WriteOp): Promise<WriteResult>;
}

interface Pending {
  op: WriteOp;
  resolve: (result: WriteResult) => void;
  reject: (error: unknown) => void;
}

/**
 * The settlements and claims of one turn of the event loop in one transaction: every commit
 * writes each page it dirtied to the WAL, a frame and a system call or two per page, so answers
 * that arrive together (a drain's burst, the subscriptions of one topic answered at once) and the
 * claims they make room for share one commit. Settlements run first, in arrival order, then the
 * claims, so a claim sees the deliveries and lanes the settlements freed. The counters they
 * change are written once per target at the end (a step that settles one event and claims the
 * next changes its subscription's counters once, not twice).
 */
export function createWriteBatch(db: Db, sql: Statements, clock: Clock, maxSettlements = 5_000): WriteBatch {
  let queue: Pending[] = [];
  let settlements = 0;
  let scheduled = false;

  function apply(ops: readonly WriteOp[]): WriteResult[] {
    return db.transaction(() => {
      const now = clock.now();
      const tally = createTally(sql);
      const all = ops.length === 1 ? ops[0]!.settlements : ops.flatMap((op) => op.settlements);
      const results = all.length === 0 ? [] : settleAll(sql, all, now, tally);
      let offset = 0;
      const written = ops.map((op) => {
        const mine = ops.length === 1 ? results : results.slice(offset, offset + op.settlements.length);
        offset += op.settlements.length;
        return { results: mine, claims: op.claim ? claim(sql, op.claim.target, op.claim.request, now, tally) : [] };
      });
      tally.flush();
      return written;
    }).immediate();
  }

  function run(): void {
    scheduled = false;
    const batch = queue;
    queue = [];
    settlements = 0;
    if (batch.length === 0) return;
    try {
      const results = apply(batch.map((p) => p.op));
      batch.forEach((p, i) => p.resolve(results[i]!));
    } catch (error) {
      for (const p of batch) p.reject(error);
    }
  }

  function push(op: WriteOp): Promise<WriteResult> {
    return new Promise((resolve, reject) => {
      queue.push({ op, resolve, reject });
      settlements += op.settlements.length;
      if (settlements >= maxSettlements) run();
      else if (!scheduled) {
        scheduled = true;
        setImmediate(run);
      }
    });
  }

  return {
    push,
    pushOrRun(op) {
      if (scheduled) return push(op);
      try {
        return Promise.resolve(apply([op])[0]!);
      } catch (error) {
        return Promise.reject(error);
      }
    },
  };
}
