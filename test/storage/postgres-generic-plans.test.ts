import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFakeClock, type FakeClock } from '../../src/domain/clock.js';
import type { Decision } from '../../src/domain/decide.js';
import type { NewMessage } from '../../src/domain/message.js';
import type { ChannelDeclaration, Claim, ClaimRequest, Settlement } from '../../src/storage/port.js';
import { createPostgresStore, type PostgresStore } from '../../src/storage/postgres/index.js';
import { dropSchema, postgresAvailable, TEST_PG_URL, testSchema } from '../support/postgres.js';

const available = await postgresAvailable();

/*
 * Every hot statement is a named prepared statement or runs inside a plpgsql function, and
 * PostgreSQL may switch both to a generic plan after five runs: planned without the parameter
 * values, where a `LIMIT $3` counts as a tenth of the table. A join of a few picked rows with a
 * big table then becomes a hash join over a scan of the whole table, on every call. This suite
 * forces generic plans from the first run, has auto_explain send every plan (nested statements
 * of the functions too) to the client, and fails on any scan of a whole big table.
 */

/** The tables that grow with what is stored (target_counts and channels stay a few rows). */
const TABLES = ['deliveries', 'messages', 'lanes', 'attempts', 'lane_cursors'];

interface Plan {
  query: string;
  plan: string;
}

/** A pool whose connections plan generically and explain every statement to the client. */
function explainingPool(plans: Plan[]): pg.Pool {
  const pool = new pg.Pool({ connectionString: TEST_PG_URL, max: 2 });
  // Statements sent without a name are planned with their values on every run: not a generic plan.
  const unnamed = new Set<string>();
  pool.on('connect', (client) => {
    client.on('notice', (notice) => {
      const text = notice.message ?? '';
      const at = text.indexOf('Query Text:');
      if (at < 0) return;
      const body = text.slice(at + 'Query Text:'.length);
      const end = body.search(/\n\S[^\n]*\(cost=/);
      const query = (end < 0 ? body : body.slice(0, end)).trim();
      if (!unnamed.has(query)) plans.push({ query, plan: end < 0 ? '' : body.slice(end) });
    });
    const query = client.query.bind(client) as (...args: unknown[]) => unknown;
    (client as { query: unknown }).query = (...args: unknown[]) => {
      const config = args[0];
      if (typeof config === 'string') unnamed.add(config.trim());
      else if (config && typeof config === 'object' && !('name' in config && config.name) && 'text' in config) unnamed.add(String(config.text).trim());
      return query(...args);
    };
    // Queued before the first query of whoever takes this new connection.
    void client.query(`SET plan_cache_mode = force_generic_plan; LOAD 'auto_explain';
      SET auto_explain.log_min_duration = 0; SET auto_explain.log_nested_statements = on;
      SET auto_explain.log_format = 'text'; SET client_min_messages = log`).catch(() => {});
  });
  return pool;
}

const msg = (id: string, key: string | null = null, extra: Partial<NewMessage> = {}): NewMessage =>
  ({ id, key, type: 'test.happened', data: '{"n":1}', metadata: {}, deliverAt: null, ...extra });

function settlements(claims: readonly Claim[], now: number, decide: (i: number) => Decision): Settlement[] {
  return claims.flatMap((c) => c.deliveries).map((d, i) => ({
    deliveryId: d.deliveryId, epoch: d.epoch, decision: decide(i), result: null,
    attempt: { attempt: d.attempt, startedAt: now, durationMs: 3, statusCode: 200, error: null, response: null },
  }));
}

const delivered: Decision = { kind: 'delivered' };
const deadletter: Decision = { kind: 'deadletter', reason: 'HTTP 400' };
const lease = { owner: 'w', leaseMs: 30_000 };

/** Claims and settles up to `rounds` times: the settled history and what is left is the backlog. */
async function drain(store: PostgresStore, request: ClaimRequest, rounds: number, decide: (i: number) => Decision): Promise<void> {
  for (let r = 0; r < rounds; r++) {
    const claims = await store.claim(request);
    if (claims.length === 0) return;
    await store.settle(settlements(claims, store.clock.now(), decide));
  }
}

/** Sends `count` messages to `channel` in batches of 500; `key` and `extra` per message number. */
async function sendMany(store: PostgresStore, channel: string, count: number, key: (n: number) => string | null, extra: (n: number) => Partial<NewMessage> = () => ({})): Promise<void> {
  for (let from = 0; from < count; from += 500) {
    const n = Math.min(500, count - from);
    await store.send(channel, Array.from({ length: n }, (_, i) => msg(`${channel}-${from + i}`, key(from + i), extra(from + i))));
    (store.clock as FakeClock).advance(100);
  }
}

/** Takes over deferred attempts of `target` after their deadline, and settles them. */
async function deferAndTakeOver(s: PostgresStore, target: string): Promise<void> {
  const clock = s.clock as FakeClock;
  const leases = (await s.claim({ target, limit: 2, ...lease })).flatMap((c) => c.deliveries);
  expect(leases.length, target).toBeGreaterThan(0);
  expect(await s.defer(leases, clock.now() + 1_000, clock.now() + 2_000)).toEqual(leases.map(() => true));
  expect(await s.findInFlight(leases[0]!.deliveryId, leases[0]!.epoch)).toMatchObject({ target });
  expect(await s.deliveryTarget(leases[0]!.deliveryId)).toBe(target);
  clock.advance(3_000);
  const groups = await s.expireDeferred({ target, limit: 5, ...lease });
  expect(groups.length).toBeGreaterThan(0);
  await s.settle(groups.flatMap((g) => g.deliveries).map((d) => ({
    deliveryId: d.deliveryId, epoch: d.epoch, decision: delivered,
    attempt: { attempt: d.attempt, startedAt: clock.now(), durationMs: 1, statusCode: 200, error: null, response: null },
  })));
}

/** Marks a lane parked (outside the explained pool), as a failed head would have. */
async function block(s: PostgresStore, target: string, lane: string): Promise<void> {
  const client = new pg.Client({ connectionString: TEST_PG_URL });
  await client.connect();
  try {
    const { rowCount } = await client.query(`UPDATE "${s.schema}".lanes SET state = 'parked' WHERE lane = $2
      AND target_id = (SELECT id FROM "${s.schema}".channels WHERE name = $1)`, [target, lane]);
    expect(rowCount, `lane '${lane}' of ${target}`).toBe(1);
  } finally {
    await client.end();
  }
}

/** Operators' calls: dead letters, redrive, purge, a message's deliveries; on lanes also blocked lanes, retry, skip, skipped. */
async function operate(s: PostgresStore, target: string, lane: string | null): Promise<void> {
  const dead = await s.listDeadLetters(target, { limit: 5 });
  await s.listDeadLetters(target, { limit: 5, cursor: dead.next });
  // Subscriptions never dead-letter (a lane stalls instead).
  if (!target.includes('/')) {
    expect(dead.items.length, target).toBeGreaterThan(2);
    await s.getMessage(dead.items[0]!.message.id);
    await s.getMessage(dead.items[0]!.message.id, target);
    await s.redrive(target, dead.items.slice(0, 2).map((d) => d.message.id));
    await s.purgeDeadLetters(target, dead.items.slice(2, 3).map((d) => d.message.id));
  }
  if (lane === null) return;
  await s.listBlockedLanes(target, { limit: 5 });
  await s.getLane(target, lane);
  // Retry and skip apply to a blocked lane (an operator's action on a healthy one is refused).
  await block(s, target, lane);
  await s.retryLane(target, lane);
  await block(s, target, lane);
  expect(await s.skipLaneHead(target, lane)).not.toBeNull();
  const skipped = await s.listSkipped(target, { limit: 5 });
  await s.redeliverSkipped(target, skipped.items.slice(0, 1).map((d) => d.message.id));
}

interface Scenario {
  name: string;
  channels: ChannelDeclaration[];
  /** Stores the volumes: several thousand messages, part settled (delivered, retried, dead-lettered), part backlog. */
  fill(store: PostgresStore): Promise<void>;
  /** Every hot operation on these targets, each run a few times. */
  operations: Record<string, (store: PostgresStore) => Promise<void>>;
}

/**
 * One deployment shape per scenario, each in its own schema: the fewer targets share the
 * deliveries table, the larger the generic estimate of one target's rows, and the sooner a
 * whole-table plan wins.
 */
const scenarios: Scenario[] = [
  {
    name: 'a plain queue',
    channels: [{ name: 'q', kind: 'queue' }],
    async fill(store) {
      await sendMany(store, 'q', 20_000, () => null, (n) => ({ priority: n % 3 }));
      const clock = store.clock as FakeClock;
      await drain(store, { target: 'q', limit: 500, ...lease }, 8, (i) =>
        i % 20 === 0 ? { kind: 'retry', availableAt: clock.now() + 60_000, reason: 'HTTP 503' } : i % 25 === 0 ? deadletter : delivered);
    },
    operations: {
      'send, with duplicates': async (s) => {
        for (let i = 0; i < 3; i++) await s.send('q', [msg(`nq${i}`), msg(`nq${i}b`, null, { priority: 2 })]);
        await s.send('q', [msg('nq0')]);
      },
      'claim, renew, release, settle (delivered, retry, dead letter), settle and claim': async (s) => {
        const clock = s.clock as FakeClock;
        const next = { target: 'q', limit: 8, ...lease };
        for (let i = 0; i < 3; i++) {
          const claims = await s.claim(next);
          expect(claims).toHaveLength(8);
          const [first, ...rest] = claims;
          expect(await s.renew(claims.flatMap((c) => c.deliveries), 60_000)).toEqual([]);
          await s.release(first!.deliveries);
          await s.settle(settlements(rest, clock.now(), (k) =>
            (k % 3 === 0 ? delivered : k % 3 === 1 ? { kind: 'retry', availableAt: clock.now() + 5_000, reason: 'HTTP 503' } : deadletter)));
          const step = await s.settleAndClaim(settlements(await s.claim(next), clock.now(), () => delivered), next);
          await s.settle(settlements(step.claims, clock.now(), () => delivered));
        }
      },
      'defer, find in flight, take over expired deferrals': (s) => deferAndTakeOver(s, 'q'),
      'wake-up times, expiry, stats': async (s) => {
        const clock = s.clock as FakeClock;
        await s.nextWakeAt('q');
        await s.send('q', [msg('short-lived', null, { expiresAt: clock.now() + 10 })]);
        clock.advance(1_000);
        expect(await s.expire(100)).toEqual(expect.arrayContaining([{ target: 'q', messageId: 'short-lived' }]));
        expect(await s.stats()).toHaveLength(1);
      },
      'operators: dead letters': (s) => operate(s, 'q', null),
      'sweep': async (s) => {
        await s.sweep((s.clock as FakeClock).now() - 500);
        await s.sweep((s.clock as FakeClock).now() - 500);
      },
    },
  },
  {
    name: 'a fifo queue with many keys',
    channels: [{ name: 'f', kind: 'fifo' }],
    async fill(store) {
      await sendMany(store, 'f', 8_000, (n) => `k${n % 3_000}`);
      await drain(store, { target: 'f', limit: 500, ...lease }, 6, (i) => (i % 40 === 0 ? deadletter : delivered));
    },
    operations: {
      'send, with duplicates': async (s) => {
        for (let i = 0; i < 3; i++) await s.send('f', [msg(`nf${i}`, `k${i}`), msg(`nf${i}b`, 'fresh-key')]);
        await s.send('f', [msg('nf0', 'k0')]);
      },
      'claim, renew, release, settle (delivered, dead letter, retry, park), settle and claim': async (s) => {
        const clock = s.clock as FakeClock;
        const retry = (): Decision => ({ kind: 'retry', availableAt: clock.now() + 5_000, reason: 'HTTP 503' });
        for (let i = 0; i < 3; i++) {
          let claims = await s.claim({ target: 'f', limit: 6, ...lease });
          expect(claims.length).toBeGreaterThan(0);
          expect(await s.renew(claims.flatMap((c) => c.deliveries), 60_000)).toEqual([]);
          await s.settle(settlements(claims, clock.now(), (k) => (k % 2 === 0 ? delivered : deadletter)));
          claims = await s.claim({ target: 'f', limit: 6, ...lease });
          await s.settle(settlements(claims.slice(0, 2), clock.now(), retry));
          await s.settle(settlements(claims.slice(2, 3), clock.now(), () => ({ kind: 'park', reason: 'HTTP 400' })));
          await s.release(claims.slice(3).flatMap((c) => c.deliveries));
          claims = await s.claim({ target: 'f', limit: 3, ...lease });
          const step = await s.settleAndClaim(settlements(claims, clock.now(), () => delivered), { target: 'f', limit: 3, ...lease });
          await s.settle(settlements(step.claims, clock.now(), (k) => (k === 0 ? delivered : retry())));
        }
      },
      'defer, find in flight, take over expired deferrals': (s) => deferAndTakeOver(s, 'f'),
      'operators: dead letters, lanes': (s) => operate(s, 'f', 'k2999'),
      'wake-up times, stats': async (s) => {
        await s.nextWakeAt('f');
        expect(await s.stats()).toHaveLength(1);
      },
    },
  },
  {
    name: 'a topic with ordered subscriptions, by topic and by key',
    channels: [
      { name: 't', kind: 'topic' },
      { name: 't/all', kind: 'subscription', topic: 't', ordering: 'topic' },
      { name: 't/keys', kind: 'subscription', topic: 't', ordering: 'key' },
    ],
    async fill(store) {
      await sendMany(store, 't', 6_000, (n) => `a${n % 1_500}`);
      await drain(store, { target: 't/all', limit: 1, batchSize: 100, ...lease }, 30, () => delivered);
      await drain(store, { target: 't/keys', limit: 500, batchSize: 2, ...lease }, 3, () => delivered);
    },
    operations: {
      'send, with duplicates': async (s) => {
        for (let i = 0; i < 3; i++) await s.send('t', [msg(`nt${i}`, `a${i}`), msg(`nt${i}b`, 'fresh-key')]);
        await s.send('t', [msg('nt0', 'a0')]);
      },
      'claim, renew, release, settle (delivered, stall), settle and claim, in batches': async (s) => {
        const clock = s.clock as FakeClock;
        for (let i = 0; i < 3; i++) {
          for (const target of ['t/all', 't/keys']) {
            let claims = await s.claim({ target, limit: 4, batchSize: 5, ...lease });
            expect(claims.length, target).toBeGreaterThan(0);
            expect(await s.renew(claims.flatMap((c) => c.deliveries), 60_000)).toEqual([]);
            const step = await s.settleAndClaim(settlements(claims, clock.now(), () => delivered), { target, limit: 4, batchSize: 5, ...lease });
            claims = step.claims;
            await s.settle(settlements(claims.slice(0, 1), clock.now(), () => ({ kind: 'stall', availableAt: clock.now() + 1_000, reason: 'HTTP 500' })));
            await s.release(claims.slice(1).flatMap((c) => c.deliveries));
          }
          clock.advance(2_000);
        }
      },
      'defer, find in flight, take over expired deferrals': async (s) => {
        await deferAndTakeOver(s, 't/all');
        await deferAndTakeOver(s, 't/keys');
      },
      'operators: dead letters, lanes': async (s) => {
        await operate(s, 't/all', '');
        await operate(s, 't/keys', 'a1499');
      },
      'wake-up times, stats': async (s) => {
        for (const target of ['t/all', 't/keys']) await s.nextWakeAt(target);
        expect(await s.stats()).toHaveLength(3);
      },
    },
  },
];

describe.skipIf(!available).each(scenarios)('PostgreSQL under generic plans: $name', (scenario) => {
  const schema = testSchema();
  const clock = createFakeClock();
  const plans: Plan[] = [];
  let pool: pg.Pool | undefined;
  let store: PostgresStore | undefined;
  let wholeScan = /^$/;

  beforeAll(async () => {
    const filler = createPostgresStore({ url: TEST_PG_URL, schema, clock, notify: false, poolSize: 2 });
    try {
      await filler.migrate();
      await filler.declare(scenario.channels);
      await scenario.fill(filler);
      clock.advance(1_000);
    } finally {
      await filler.close();
    }
    const client = new pg.Client({ connectionString: TEST_PG_URL });
    await client.connect();
    try {
      // Fails here, not as missing plans later, where auto_explain is not installed.
      await client.query(`LOAD 'auto_explain'`);
      await client.query(`ANALYZE ${[...TABLES, 'channels', 'target_counts'].map((t) => `"${schema}".${t}`).join(', ')}`);
      // Scanning a table of a few rows (no lanes in a deployment of plain queues) is the right plan.
      const { rows } = await client.query<{ relname: string }>(
        `SELECT relname FROM pg_class WHERE relnamespace = $1::regnamespace AND relname = ANY($2::text[]) AND reltuples >= 1000`, [schema, TABLES]);
      expect(rows.length).toBeGreaterThan(0);
      wholeScan = new RegExp(`\\bSeq Scan on (${rows.map((r) => r.relname).join('|')})\\b`);
    } finally {
      await client.end();
    }
    // A pool of its own: no plan cached before the tables had their volumes and statistics.
    pool = explainingPool(plans);
    store = createPostgresStore({ pool, schema, clock, notify: false });
  }, 180_000);

  afterAll(async () => {
    await store?.close();
    await pool?.end();
    await dropSchema(schema);
  });

  it.each(Object.entries(scenario.operations))('%s: no scan of a whole big table', async (_, operation) => {
    const from = plans.length;
    await operation(store!);
    const seen = plans.slice(from);
    expect(seen.length).toBeGreaterThan(0);
    const scans = seen.filter((p) => wholeScan.test(p.plan)).map((p) => `${p.query.replace(/\s+/g, ' ').slice(0, 200)}\n${p.plan}`);
    expect([...new Set(scans)]).toEqual([]);
  });
});
