import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { createFakeClock, type FakeClock } from '../../src/domain/clock.js';
import type { NewMessage } from '../../src/domain/message.js';
import type { ChannelDeclaration, Claim, ClaimRequest, Settlement } from '../../src/storage/port.js';
import { createPostgresStore, type PostgresStore } from '../../src/storage/postgres/index.js';
import { dropSchema, postgresAvailable, TEST_PG_URL, testSchema } from '../support/postgres.js';

const available = await postgresAvailable();

/*
 * A claim touches the few rows it claims: it must not read every lane of a fifo queue, or every
 * due delivery of a queue's backlog. The claim functions are planned once per session, often
 * before the tables have statistics (a new deployment, or a table analysed while it was nearly
 * empty), when the planner takes one target's rows for a handful. This suite claims from a fifo
 * queue of 2,000 keys and from a queue with a backlog of 4,000 whose tables were never analysed,
 * or analysed when they held 3 messages or none, with generic plans from the first call, and
 * counts the rows every scan of `lanes` and `deliveries` read (auto_explain with ANALYZE, nested
 * statements included), and looks ahead over a backlog not yet due, which must read the earliest
 * delivery, not aggregate all of them. No plan may be compiled by JIT: that costs a few hundred milliseconds per
 * call. Nor may a batch of settlements or claims be joined to its rows pair by pair (n × n). The fifo
 * case also takes single steps (one answer, one lane claimed), which take a path of their own, and
 * settles retries, alone and mixed with delivered answers, as a failing endpoint makes it do; and
 * both cases renew leases and give them back, as running calls and a shutdown do, and list the first
 * few live deliveries, as a drain does.
 */

const KEYS = 2_000;
const BACKLOG = 4_000;
const LIMIT = 10;
/** Messages scheduled for later, behind the few due ones. */
const LATER = 30_000;

/** Scans of `table` (sequential, index, bitmap index) with their actual rows and loops. */
const scansOf = (table: string) =>
  new RegExp(`(Seq Scan on ${table}|Index (?:Only )?Scan(?: Backward)? using ${table}_\\w+ on ${table}|Bitmap Index Scan on ${table}_\\w+)\\b[^\\n]*\\(actual [^\\n]*?rows=(\\d+) loops=(\\d+)\\)`, 'g');

/** Scans of `table` in these plans that read more than `most` rows, and plans compiled by JIT. */
function wideScans(plans: readonly string[], table: string, most: number): string[] {
  const scans = plans.flatMap((plan) => [...plan.matchAll(scansOf(table))].map((m) => ({ scan: m[1]!, rows: Number(m[2]) * Number(m[3]), plan })));
  expect(scans.length).toBeGreaterThan(0);
  const compiled = plans.filter((plan) => /^JIT:/m.test(plan)).map((plan) => `JIT\n${plan.slice(0, 1500)}`);
  return [...scans.filter((s) => s.rows > most).map((s) => `${s.scan}: ${s.rows} rows\n${s.plan.slice(0, 1500)}`), ...compiled];
}

/**
 * Scans of `table` in these plans that touched more than `most` pages per loop (index and table
 * pages, from BUFFERS). A bound on a later column of an index, after one that is not bounded, is
 * checked entry by entry: such a scan returns few rows and reads every page of the range.
 */
function pageHeavyScans(plans: readonly string[], table: string, most: number): string[] {
  return plans.flatMap((plan) => [...plan.matchAll(scansOf(table))].flatMap((m) => {
    const after = plan.slice(m.index! + m[0].length);
    const own = after.slice(0, after.search(/->|$/));
    const buffers = /Buffers: shared(?: hit=(\d+))?(?: read=(\d+))?/.exec(own);
    const pages = buffers ? Number(buffers[1] ?? 0) + Number(buffers[2] ?? 0) : 0;
    return pages / Number(m[3]) > most ? [`${m[1]}: ${pages} pages in ${m[3]} loops\n${plan.slice(0, 1500)}`] : [];
  }));
}

/**
 * Joins in these plans that compared more than `most` pairs of rows and kept few: a batch joined
 * to its own rows pair by pair (n × n) instead of each row reached by key.
 */
function pairwiseJoins(plans: readonly string[], most: number): string[] {
  return plans.flatMap((plan) => [...plan.matchAll(/Rows Removed by Join Filter: (\d+)/g)]
    .filter((m) => Number(m[1]) > most).map((m) => `${m[0]}\n${plan.slice(0, 1500)}`));
}

/**
 * A store on tables never analysed after the first `analysedAt` messages (never at all when
 * null), planning generically and explaining every statement into `plans`.
 */
async function unanalysed(
  schema: string, clock: FakeClock, channel: ChannelDeclaration, messages: (n: number) => NewMessage, count: number, analysedAt: number | null, plans: string[],
) {
  const filler = createPostgresStore({ url: TEST_PG_URL, schema, clock, notify: false, poolSize: 2 });
  try {
    await filler.migrate();
    const admin = new pg.Client({ connectionString: TEST_PG_URL });
    await admin.connect();
    try {
      // No ANALYZE may run while the test claims: the tables stay as a new deployment finds them.
      for (const table of ['lanes', 'deliveries', 'messages']) await admin.query(`ALTER TABLE "${schema}".${table} SET (autovacuum_enabled = false)`);
      await filler.declare([channel]);
      const first = analysedAt ?? 0;
      if (first > 0) await filler.send(channel.name, Array.from({ length: first }, (_, i) => messages(i)));
      if (analysedAt !== null) await admin.query(`ANALYZE "${schema}".lanes, "${schema}".deliveries, "${schema}".messages`);
      for (let from = first; from < count; from += 500) {
        await filler.send(channel.name, Array.from({ length: Math.min(500, count - from) }, (_, i) => messages(from + i)));
      }
    } finally {
      await admin.end();
    }
  } finally {
    await filler.close();
  }
  const pool = explainingPool(plans);
  return { pool, store: createPostgresStore({ pool, schema, clock, notify: false }) };
}

function explainingPool(plans: string[]): pg.Pool {
  const pool = new pg.Pool({ connectionString: TEST_PG_URL, max: 2 });
  pool.on('connect', (client) => {
    client.on('notice', (notice) => {
      if ((notice.message ?? '').includes('Query Text:')) plans.push(notice.message!);
    });
    void client.query(`SET plan_cache_mode = force_generic_plan; LOAD 'auto_explain';
      SET auto_explain.log_min_duration = 0; SET auto_explain.log_nested_statements = on; SET auto_explain.log_analyze = on;
      SET auto_explain.log_buffers = on; SET auto_explain.log_timing = off; SET auto_explain.log_format = 'text'; SET client_min_messages = log`).catch(() => {});
  });
  return pool;
}

const msg = (id: string, key: string | null): NewMessage => ({ id, key, type: 'test.happened', data: '{"n":1}', metadata: {}, deliverAt: null });

function delivered(claims: readonly Claim[], now: number): Settlement[] {
  return claims.flatMap((c) => c.deliveries).map((d) => ({
    deliveryId: d.deliveryId, epoch: d.epoch, decision: { kind: 'delivered' as const }, result: null,
    attempt: { attempt: d.attempt, startedAt: now, durationMs: 3, statusCode: 200, error: null, response: null },
  }));
}

/** Leases of `request` renewed while their calls would run, then given back untried and claimable again. */
async function renewsAndReleases(store: PostgresStore, request: ClaimRequest): Promise<void> {
  const held = (await store.claim(request)).flatMap((c) => c.deliveries);
  expect(held).toHaveLength(LIMIT);
  expect(await store.renew(held, 30_000)).toEqual([]);
  await store.release(held);
  expect(await store.claim(request)).toHaveLength(LIMIT);
}

describe.skipIf(!available).each([
  { tables: 'never analysed', analysedAt: null },
  { tables: 'analysed when they held 3 messages', analysedAt: 3 },
  { tables: 'analysed when empty', analysedAt: 0 },
])('PostgreSQL claims on tables $tables', ({ analysedAt }) => {
  const opened: Array<{ schema: string; pool: pg.Pool; store: PostgresStore }> = [];
  afterAll(async () => {
    for (const { schema, pool, store } of opened) {
      await store.close();
      await pool.end();
      await dropSchema(schema);
    }
  });

  /** A schema of its own holding `count` messages of `channel`, its store explaining every statement into `plans`. */
  async function fresh(channel: ChannelDeclaration, messages: (n: number) => NewMessage, count: number) {
    const schema = testSchema();
    const clock = createFakeClock();
    const plans: string[] = [];
    const { pool, store } = await unanalysed(schema, clock, channel, messages, count, analysedAt, plans);
    opened.push({ schema, pool, store });
    return { store, clock, plans, request: { target: channel.name, limit: LIMIT, owner: 'w', leaseMs: 30_000 } };
  }

  it(`fifo: claims and settle-and-claims of ${LIMIT} lanes read a few lanes, not all ${KEYS}`, async () => {
    const { store, clock, plans, request } = await fresh({ name: 'f', kind: 'fifo' }, (n) => msg(`m${n}`, `k${n % KEYS}`), KEYS * 2);
    for (let i = 0; i < 3; i++) {
      const claims = await store.claim(request);
      expect(claims).toHaveLength(LIMIT);
      const step = await store.settleAndClaim(delivered(claims, clock.now()), request);
      expect(step.claims).toHaveLength(LIMIT);
      await store.settle(delivered(step.claims, clock.now()));
    }
    // Answers that keep their lanes' heads (retries of a failing endpoint) settle in a call of their
    // own; a batch mixing them with delivered answers takes the general settlement.
    const retry = (d: { deliveryId: number; epoch: number; attempt: number }): Settlement => ({
      deliveryId: d.deliveryId, epoch: d.epoch, decision: { kind: 'retry', availableAt: clock.now(), reason: 'HTTP 503' }, result: null,
      attempt: { attempt: d.attempt, startedAt: clock.now(), durationMs: 3, statusCode: 503, error: null, response: null },
    });
    const failing = (await store.claim(request)).flatMap((c) => c.deliveries);
    expect(await store.settle(failing.map(retry))).toEqual(Array(LIMIT).fill('ok'));
    const [first, ...rest] = delivered(await store.claim(request), clock.now());
    expect(await store.settle([retry({ ...first!, attempt: first!.attempt.attempt }), ...rest])).toEqual(Array(LIMIT).fill('ok'));
    // One answer and its next claim: the one-delivery path, which also checks no other lane is due.
    const one = { ...request, limit: 1 };
    for (let i = 0; i < 3; i++) {
      const step = await store.settleAndClaim(delivered(await store.claim(one), clock.now()), one);
      expect(step.claims).toHaveLength(1);
      await store.settle(delivered(step.claims, clock.now()));
    }
    await renewsAndReleases(store, request);
    // What a drain looks at: the first few live deliveries, in lane order.
    expect(await store.listLive([request.target], LIMIT)).toHaveLength(LIMIT);
    expect(wideScans(plans, 'lanes', 10 * LIMIT)).toEqual([]);
    expect(wideScans(plans, 'deliveries', 10 * LIMIT)).toEqual([]);
    expect(pairwiseJoins(plans, LIMIT)).toEqual([]);
  }, 120_000);

  it(`queue: claims of ${LIMIT} read a few due deliveries, not the whole backlog of ${BACKLOG}`, async () => {
    const { store, clock, plans, request } = await fresh({ name: 'q', kind: 'queue' }, (n) => msg(`m${n}`, null), BACKLOG);
    for (let i = 0; i < 3; i++) {
      const claims = await store.claim(request);
      expect(claims).toHaveLength(LIMIT);
      const step = await store.settleAndClaim(delivered(claims, clock.now()), request);
      expect(step.claims).toHaveLength(LIMIT);
      const ahead = await store.claimOrLookAhead(request);
      expect(ahead.claims).toHaveLength(LIMIT);
      await store.settle(delivered([...step.claims, ...ahead.claims], clock.now()));
    }
    await renewsAndReleases(store, request);
    expect(await store.listLive([request.target], LIMIT)).toHaveLength(LIMIT);
    expect(wideScans(plans, 'deliveries', 10 * LIMIT)).toEqual([]);
    expect(pairwiseJoins(plans, LIMIT)).toEqual([]);
    // The explorer's search by status looks at a window of messages (all 4,000 here), each through its own deliveries.
    const searched = plans.length;
    expect((await store.listMessages({ channel: 'q', status: 'delivered' }, { limit: 5 })).items).toHaveLength(5);
    expect(pageHeavyScans(plans.slice(searched), 'deliveries', 10 * LIMIT)).toEqual([]);
  }, 120_000);

  it(`queue: a claim that comes up short reads the due deliveries, not the ${LATER} scheduled for later`, async () => {
    const tomorrow = createFakeClock().now() + 86_400_000;
    const later = (n: number): NewMessage => ({ ...msg(`later${n}`, null), deliverAt: tomorrow + n });
    const { store, clock, plans, request } = await fresh({ name: 'q', kind: 'queue' }, later, 0);
    for (let from = 0; from < LATER; from += 1_000) await store.send('q', Array.from({ length: 1_000 }, (_, i) => later(from + i)));
    const from = plans.length;
    for (let round = 0; round < 3; round++) {
      // Due now, in two priorities: each claim asks for more than there is.
      await store.send('q', Array.from({ length: LIMIT }, (_, i) => ({ ...msg(`now${round}-${i}`, null), priority: i % 2 })));
      const { claims, nextWakeAt } = await store.claimOrLookAhead({ ...request, limit: 2 * LIMIT });
      expect(claims.map((c) => c.deliveries[0]!.message.priority)).toEqual([...Array(LIMIT / 2).fill(1), ...Array(LIMIT / 2).fill(0)]);
      expect(nextWakeAt).toBe(clock.now() + 30_000); // the leases just taken
      await store.settle(delivered(claims, clock.now()));
    }
    expect(pageHeavyScans(plans.slice(from), 'deliveries', 100)).toEqual([]);
  }, 120_000);

  it.each([
    // A fifo lane is due when its head is: the first message of each key.
    { kind: 'queue' as const, keyOf: () => null, priorities: 3, earliestOf: BACKLOG - 1, scanned: ['deliveries'] },
    { kind: 'fifo' as const, keyOf: (n: number) => `k${n % KEYS}`, priorities: 1, earliestOf: KEYS - 1, scanned: ['lanes'] },
  ])(`$kind: the look-ahead over a backlog of ${BACKLOG} not yet due reads the earliest, not all of it`, async ({ kind, keyOf, priorities, earliestOf, scanned }) => {
    // Later messages come due sooner (on the queue in three priorities): the earliest is neither first sent nor first in priority order.
    const dueAt = (n: number) => createFakeClock().now() + 60_000 + (BACKLOG - n) * 10;
    const message = (n: number): NewMessage => ({ ...msg(`m${n}`, keyOf(n)), deliverAt: dueAt(n), priority: n % priorities });
    // Both connections plan the look-ahead while the channel holds nothing due, as at a deployment's first start.
    const { store, plans, request } = await fresh({ name: 'c', kind }, message, 0);
    const both = <T>(call: () => Promise<T>) => Promise.all([call(), call()]);
    const before = await store.nextWakeAt('c');
    expect(await both(() => store.claimOrLookAhead(request))).toEqual([{ claims: [], nextWakeAt: before }, { claims: [], nextWakeAt: before }]);
    expect(await both(() => store.nextWakeAt('c'))).toEqual([before, before]);
    for (let from = 0; from < BACKLOG; from += 500) await store.send('c', Array.from({ length: 500 }, (_, i) => message(from + i)));
    const earliest = dueAt(earliestOf);
    const from = plans.length;
    for (let i = 0; i < 3; i++) {
      expect(await both(() => store.claimOrLookAhead(request))).toEqual([{ claims: [], nextWakeAt: earliest }, { claims: [], nextWakeAt: earliest }]);
      expect(await both(() => store.nextWakeAt('c'))).toEqual([earliest, earliest]);
    }
    for (const table of scanned) expect(wideScans(plans.slice(from), table, 10 * LIMIT)).toEqual([]);
  }, 120_000);
});
