import Database from 'better-sqlite3';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFakeClock } from '../../src/domain/clock.js';
import type { Decision } from '../../src/domain/decide.js';
import type { NewMessage } from '../../src/domain/message.js';
import type { Claim, Store } from '../../src/storage/port.js';
import { createSqliteStore } from '../../src/storage/sqlite/sqlite-store.js';
import { tempDir } from '../support/temp.js';

/*
 * SQLite takes a partial index only when the statement repeats the index's condition word for
 * word (`status = 'skipped'` does not let it prove `status IN ('deadlettered', 'skipped')`), and
 * has no statistics unless someone runs ANALYZE: a statement written for an index can quietly
 * read a whole table instead. Each such statement answers, only slower as the store fills: a
 * page of dead letters read every delivery from its cursor on, `stats()` every lane of every fifo
 * queue. This suite records every statement the store prepares while it runs each operation,
 * asks SQLite for its plan, and fails on a scan of a whole table that grows with what is kept, or
 * a walk of one by rowid, but for the statements listed below with the reason they may.
 */

/** Tables that grow with the messages kept. */
const GROWING = ['deliveries', 'messages', 'attempts', 'lanes', 'lane_cursors'];

/** Statements that read a whole growing table, or a range of it by rowid, by design. */
const ALLOWED: Array<{ sql: RegExp; why: string }> = [
  { sql: /^\s*INSERT INTO deliveries \(message_pk, target_id, lane, position, status, attempts, available_at, updated_at\)\s+SELECT m\.pk, c\.id/, why: 'a new subscription from the beginning copies every kept message of its topic' },
  { sql: /FROM messages m WHERE .*m\.pk >= \?/s, why: 'message search looks at a window of at most `examine` messages below its cursor' },
  { sql: /^INSERT INTO channels /, why: 'declaring a channel: the foreign-key checks SQLite plans for a parent row it never runs here' },
  { sql: /^\s*(UPDATE lanes|DELETE FROM lanes) .*WHERE target_id = @sub\b/s, why: 'a seek moves every lane of its subscription' },
  { sql: /^DELETE FROM lane_cursors WHERE target_id = \? AND delivered <= 0$/, why: 'a seek drops the cursors of its subscription it moved back to the start' },
];

const dir = tempDir();
const seen = new Set<string>();
const prepare = Database.prototype.prepare;

/** Records what the store prepares from now on, until stop(). */
function record(): { stop(): void } {
  Database.prototype.prepare = function (this: Database.Database, source: string) {
    seen.add(source);
    return prepare.call(this, source);
  } as typeof prepare;
  return { stop: () => void (Database.prototype.prepare = prepare) };
}

afterAll(() => {
  Database.prototype.prepare = prepare;
  dir.cleanup();
});

const msg = (id: string, extra: Partial<NewMessage> = {}): NewMessage => ({ id, key: null, type: 'plan.checked', data: '{}', metadata: {}, deliverAt: null, ...extra });

/**
 * Plan steps that read a growing table whole: a scan, a walk by rowid, or every lane (or cursor)
 * of a target through the primary key. Virtual tables (json_each) and constant rows excepted.
 */
function wholeReads(plan: string[], aliases: Map<string, string>): string[] {
  return plan.filter((step) => {
    const scan = /^SCAN (\w+)(?! VIRTUAL TABLE)/.exec(step);
    const byRowid = /^SEARCH (\w+) USING INTEGER PRIMARY KEY \(rowid[<>]/.exec(step);
    // Every lane of a target, through the primary key, to find a few (the blocked ones, say).
    const allLanes = /^SEARCH (\w+) USING (?:COVERING INDEX \w+|PRIMARY KEY) \(target_id=\?\)$/.exec(step);
    const name = (scan ?? byRowid ?? allLanes)?.[1];
    if (!name || step.includes('VIRTUAL TABLE') || step.startsWith('SCAN CONSTANT')) return false;
    return GROWING.includes(aliases.get(name) ?? name);
  });
}

/** `FROM deliveries d`, `JOIN lanes l`: which table each alias of a statement names. */
function aliasesOf(sql: string): Map<string, string> {
  const aliases = new Map<string, string>();
  for (const m of sql.matchAll(/\b(?:FROM|JOIN|UPDATE|INTO)\s+(\w+)(?:\s+(?:AS\s+)?(\w+))?/gi)) {
    if (m[2] && !/^(WHERE|SET|ON|USING|INDEXED|JOIN|LEFT|SELECT|VALUES|ORDER|GROUP|LIMIT|AS|DEFAULT)$/i.test(m[2])) aliases.set(m[2], m[1]!);
  }
  return aliases;
}

describe('SQLite plans: no statement reads a whole growing table', () => {
  let store: Store;
  let path: string;
  const clock = createFakeClock();
  const lease = { owner: 'o', leaseMs: 30_000 };

  const settle = (claims: Claim[], decision: Decision) => store.settle(claims.flatMap((c) => c.deliveries.map((d) => ({
    deliveryId: d.deliveryId, epoch: d.epoch, decision, result: null,
    attempt: { attempt: d.attempt, startedAt: clock.now(), durationMs: 1, statusCode: 500, error: null, response: null },
  }))));

  let recording: { stop(): void };

  beforeAll(async () => {
    recording = record();
    path = join(dir.path, 'plans.db');
    store = createSqliteStore({ path, clock });
    await store.migrate();
    await store.declare([
      { name: 'q', kind: 'queue' },
      { name: 'f', kind: 'fifo' },
      { name: 't', kind: 'topic' },
      { name: 't/keys', kind: 'subscription', topic: 't', ordering: 'key' },
      { name: 't/all', kind: 'subscription', topic: 't', ordering: 'topic' },
    ]);
    for (let from = 0; from < 1_000; from += 500) {
      await store.send('q', Array.from({ length: 500 }, (_, i) => msg(`q${from + i}`, { priority: i % 3, expiresAt: clock.now() + 60_000 + i })));
      await store.send('q', Array.from({ length: 500 }, (_, i) => msg(`later${from + i}`, { deliverAt: clock.now() + 3_600_000 })));
      await store.send('f', Array.from({ length: 500 }, (_, i) => msg(`f${from + i}`, { key: `k${i % 100}` })));
      await store.send('t', Array.from({ length: 500 }, (_, i) => msg(`t${from + i}`, { key: `k${i % 100}` })));
    }
  });

  afterAll(() => store.close());

  it('runs every operation through indexes', async () => {
    for (const target of ['q', 'f', 't/keys', 't/all']) {
      const claims = await store.claim({ target, limit: 20, batchSize: 2, ...lease });
      await settle(claims.slice(0, 4), target === 'q' ? { kind: 'deadletter', reason: 'HTTP 400' } : { kind: 'park', reason: 'HTTP 400' });
      await settle(claims.slice(4, 6), { kind: 'retry', availableAt: clock.now() + 1_000, reason: 'HTTP 503' });
      const rest = claims.slice(6);
      await store.renew(rest.flatMap((c) => c.deliveries), 30_000);
      await store.settleAndClaim(rest.flatMap((c) => c.deliveries.map((d) => ({
        deliveryId: d.deliveryId, epoch: d.epoch, decision: { kind: 'delivered' } as Decision, result: null,
        attempt: { attempt: d.attempt, startedAt: clock.now(), durationMs: 1, statusCode: 200, error: null, response: null },
      }))), { target, limit: 5, ...lease });
      await store.claimOrLookAhead({ target, limit: 5, ...lease });
      await store.nextWakeAt(target);
      await store.listLive([target], 10);
      await store.hurryRetries([target]);
      if (target === 'q') {
        await store.listDeadLetters(target, { limit: 5 });
        await store.redrive(target, ['q0']);
        await store.purgeDeadLetters(target, ['q1']);
        await store.redrive(target);
      } else {
        const [first, second] = (await store.listBlockedLanes(target, { limit: 5 })).items;
        await store.getLane(target, first!.lane);
        await store.skipLaneHead(target, first!.lane);
        await store.listSkipped(target, { limit: 5 });
        await store.redeliverSkipped(target);
        if (second) await store.retryLane(target, second.lane);
      }
    }
    await store.seek('t/all', { sequence: 5 });
    await store.stats();
    await store.getMessage('q5');
    await store.listMessages({ channel: 'q' }, { limit: 5 });
    await store.listMessages({ channel: 't/keys', status: 'delivered' }, { limit: 5 });
    await store.listMessages({ type: 'plan.checked', key: 'k1' }, { limit: 5 });
    clock.advance(120_000);
    await store.expire(10);
    await store.sweep(clock.now());

    recording.stop();
    const db = new Database(path, { readonly: true });
    try {
      const offending: string[] = [];
      for (const sql of seen) {
        if (ALLOWED.some((a) => a.sql.test(sql))) continue;
        // Parameters as literals: a plan does not depend on their values here (limits are `+?`).
        const plan = db.prepare(`EXPLAIN QUERY PLAN ${sql.replace(/\?\d*|[@$:][A-Za-z_]\w*/g, '1')}`).all() as Array<{ detail: string }>;
        const reads = wholeReads(plan.map((p) => p.detail), aliasesOf(sql));
        if (reads.length > 0) offending.push(`${reads.join('; ')}\n  ${sql.replace(/\s+/g, ' ').slice(0, 300)}`);
      }
      expect(seen.size).toBeGreaterThan(50);
      expect(offending).toEqual([]);
    } finally {
      db.close();
    }
  }, 60_000);
});
