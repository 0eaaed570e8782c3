import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFakeClock } from '../../src/domain/clock.js';
import type { NewMessage } from '../../src/domain/message.js';
import type { Claim, Settlement } from '../../src/storage/port.js';
import { createPostgresStore, type PostgresStore } from '../../src/storage/postgres/index.js';
import { dropSchema, postgresAvailable, TEST_PG_URL, testSchema } from '../support/postgres.js';

const available = await postgresAvailable();

/*
 * A claim of a fifo queue or an ordered subscription touches the lanes it claims, a few; it must
 * not read every lane of the target. The claim functions are planned once per session, often
 * before the tables have statistics (a new deployment, or a table analysed while it was nearly
 * empty), when the planner takes a target's lanes for a handful of rows. This suite claims from
 * a fifo queue of 2,000 keys whose tables were never analysed, with generic plans from the first
 * call, and counts the rows every scan of `lanes` read (auto_explain with ANALYZE, nested
 * statements included).
 */

const KEYS = 2_000;
const LIMIT = 10;

/** `Seq Scan on lanes`, `Index Scan using lanes_… on lanes`, `Bitmap Index Scan on lanes_…`, with their actual rows and loops. */
const LANE_SCAN = /(Seq Scan on lanes|Index (?:Only )?Scan(?: Backward)? using lanes_\w+ on lanes|Bitmap Index Scan on lanes_\w+)\b[^\n]*\(actual [^\n]*?rows=(\d+) loops=(\d+)\)/g;

function explainingPool(plans: string[]): pg.Pool {
  const pool = new pg.Pool({ connectionString: TEST_PG_URL, max: 2 });
  pool.on('connect', (client) => {
    client.on('notice', (notice) => {
      if ((notice.message ?? '').includes('Query Text:')) plans.push(notice.message!);
    });
    void client.query(`SET plan_cache_mode = force_generic_plan; LOAD 'auto_explain';
      SET auto_explain.log_min_duration = 0; SET auto_explain.log_nested_statements = on; SET auto_explain.log_analyze = on;
      SET auto_explain.log_timing = off; SET auto_explain.log_format = 'text'; SET client_min_messages = log`).catch(() => {});
  });
  return pool;
}

const msg = (id: string, key: string): NewMessage => ({ id, key, type: 'test.happened', data: '{"n":1}', metadata: {}, deliverAt: null });

function delivered(claims: readonly Claim[], now: number): Settlement[] {
  return claims.flatMap((c) => c.deliveries).map((d) => ({
    deliveryId: d.deliveryId, epoch: d.epoch, decision: { kind: 'delivered' as const }, result: null,
    attempt: { attempt: d.attempt, startedAt: now, durationMs: 3, statusCode: 200, error: null, response: null },
  }));
}

describe.skipIf(!available)('PostgreSQL lane claims before the tables have statistics', () => {
  const schema = testSchema();
  const clock = createFakeClock();
  const plans: string[] = [];
  let pool: pg.Pool | undefined;
  let store: PostgresStore | undefined;

  beforeAll(async () => {
    const filler = createPostgresStore({ url: TEST_PG_URL, schema, clock, notify: false, poolSize: 2 });
    try {
      await filler.migrate();
      const admin = new pg.Client({ connectionString: TEST_PG_URL });
      await admin.connect();
      try {
        // No ANALYZE may run while the test claims: the tables stay as a new deployment finds them.
        for (const table of ['lanes', 'deliveries', 'messages']) await admin.query(`ALTER TABLE "${schema}".${table} SET (autovacuum_enabled = false)`);
      } finally {
        await admin.end();
      }
      await filler.declare([{ name: 'f', kind: 'fifo' }]);
      for (let from = 0; from < KEYS * 2; from += 500) {
        await filler.send('f', Array.from({ length: 500 }, (_, i) => msg(`m${from + i}`, `k${(from + i) % KEYS}`)));
      }
    } finally {
      await filler.close();
    }
    pool = explainingPool(plans);
    store = createPostgresStore({ pool, schema, clock, notify: false });
  }, 120_000);

  afterAll(async () => {
    await store?.close();
    await pool?.end();
    await dropSchema(schema);
  });

  it(`claims and settle-and-claims of ${LIMIT} lanes read a few lanes, not all ${KEYS}`, async () => {
    const request = { target: 'f', limit: LIMIT, owner: 'w', leaseMs: 30_000 };
    for (let i = 0; i < 3; i++) {
      const claims = await store!.claim(request);
      expect(claims).toHaveLength(LIMIT);
      const step = await store!.settleAndClaim(delivered(claims, clock.now()), request);
      expect(step.claims).toHaveLength(LIMIT);
      await store!.settle(delivered(step.claims, clock.now()));
    }
    const scans = plans.flatMap((plan) => [...plan.matchAll(LANE_SCAN)].map((m) => ({ scan: m[1]!, rows: Number(m[2]) * Number(m[3]), plan })));
    expect(scans.length).toBeGreaterThan(0);
    const wide = scans.filter((s) => s.rows > 10 * LIMIT);
    expect(wide.map((s) => `${s.scan}: ${s.rows} rows\n${s.plan.slice(0, 1500)}`)).toEqual([]);
  });
});
