import type pg from 'pg';
import { quoteIdent } from './connection.js';
import { LANE_FUNCTIONS_MIGRATION } from './lane-functions.js';
import { RATE_LIMITS_MIGRATION } from './rate-limits.js';
import { CONCURRENCY_SLOTS_MIGRATION } from './concurrency-slots.js';
import { ENQUEUE_FUNCTION_MIGRATION } from './enqueue-function.js';
import { FREE_FUNCTIONS_MIGRATION } from './free-functions.js';
import { LANE_HEAD_FLOOR_MIGRATION } from './lane-functions-head-floor.js';
import { SINGLE_SETTLE_MIGRATION } from './lane-functions-single.js';
import { LINEAR_JOINS_MIGRATION } from './linear-joins.js';
import { HOLDING_FUNCTIONS_MIGRATION } from './holding-functions.js';
import { LEASE_FUNCTIONS_MIGRATION } from './lease-functions.js';
import { HOT_CLAIMS_MIGRATION } from './hot-claims.js';
import { LEASE_AFTER_WAIT_MIGRATION } from './lease-after-wait.js';
import { REPEATED_SETTLEMENTS_MIGRATION } from './repeated-settlements.js';
import { HOLDING_TIMEOUT_MIGRATION } from './holding-timeout.js';
import { LOCK_WAIT_INLINE_MIGRATION } from './lock-wait-inline.js';
import { CONCURRENCY_SHARE_INLINE_MIGRATION } from './concurrency-share-inline.js';
import { LOOK_AHEAD_IN_ORDER_MIGRATION } from './look-ahead-in-order.js';
import { CLAIM_BY_PRIORITY_MIGRATION } from './claim-by-priority.js';
import { LIST_LIVE_MIGRATION } from './list-live-function.js';
import { RELEASE_KEEPS_DUE_TIME_MIGRATION } from './release-keeps-due-time.js';
import { PUBLISH_FUNCTION_MIGRATION } from './publish-function.js';
import { ATTEMPTS_UNCHECKED_MIGRATION } from './attempts-unchecked.js';
import { SEND_HAND_OFF_MIGRATION } from './send-hand-off.js';

/**
 * Numbered migrations of the PostgreSQL schema. Each runs unqualified with `search_path` set to
 * the store's schema, inside the one migrating transaction. Never edit a released migration;
 * add the next number. Times are epoch milliseconds (bigint) from the store's clock.
 */
export const MIGRATIONS: ReadonlyArray<{ version: number; name: string; sql: string }> = [
  {
    version: 1,
    name: 'initial schema',
    sql: `
CREATE TABLE channels (
  id BIGSERIAL PRIMARY KEY,
  name TEXT COLLATE "C" NOT NULL UNIQUE,
  kind TEXT NOT NULL CHECK (kind IN ('queue', 'fifo', 'topic', 'subscription')),
  topic_id BIGINT REFERENCES channels(id),
  ordering TEXT NOT NULL DEFAULT 'none' CHECK (ordering IN ('none', 'key', 'topic')),
  paused BOOLEAN NOT NULL DEFAULT false,
  -- Topics: the last sequence handed out. Updated inside the publishing transaction, so the row
  -- lock orders publishers and sequences become visible in commit order.
  last_sequence BIGINT NOT NULL DEFAULT 0,
  created_at BIGINT NOT NULL
);
CREATE INDEX channels_by_topic ON channels (topic_id) WHERE topic_id IS NOT NULL;

CREATE TABLE messages (
  pk BIGSERIAL PRIMARY KEY,
  channel_id BIGINT NOT NULL REFERENCES channels(id),
  id TEXT COLLATE "C" NOT NULL,
  key TEXT COLLATE "C",
  type TEXT NOT NULL,
  data TEXT NOT NULL,
  -- JSON text, like data: stored and handed back verbatim.
  metadata TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  deliver_at BIGINT,
  sequence BIGINT,
  -- (id, channel_id) serves both deduplication and the lookup by id alone.
  UNIQUE (id, channel_id)
);
CREATE INDEX messages_by_sequence ON messages (channel_id, sequence) WHERE sequence IS NOT NULL;
CREATE INDEX messages_by_age ON messages (channel_id, created_at);

-- available_at is non-null exactly while a delivery is live (ready or delivering): for a ready
-- delivery it is when it may be tried, for a delivering one when its lease expires.
CREATE TABLE deliveries (
  id BIGSERIAL PRIMARY KEY,
  message_pk BIGINT NOT NULL REFERENCES messages(pk),
  target_id BIGINT NOT NULL REFERENCES channels(id),
  lane TEXT COLLATE "C",
  position BIGINT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('ready', 'delivering', 'delivered', 'deadlettered', 'skipped')),
  attempts INTEGER NOT NULL DEFAULT 0,
  available_at BIGINT,
  epoch INTEGER NOT NULL DEFAULT 0,
  lease_owner TEXT,
  last_error TEXT,
  result TEXT,
  updated_at BIGINT NOT NULL,
  CHECK ((available_at IS NOT NULL) = (status IN ('ready', 'delivering')))
);
CREATE INDEX deliveries_ready ON deliveries (target_id, available_at) WHERE lane IS NULL AND available_at IS NOT NULL;
CREATE INDEX deliveries_lane ON deliveries (target_id, lane, position) WHERE lane IS NOT NULL AND available_at IS NOT NULL;
CREATE INDEX deliveries_final ON deliveries (target_id, status, id) WHERE available_at IS NULL;
CREATE INDEX deliveries_message ON deliveries (message_pk);

-- One row per lane that has live deliveries (or is blocked). ready_at is when the lane may be
-- claimed: its head's retry time, or the lease expiry while its head is in flight; null while
-- parked. leased_until is set while a delivery (or batch) of the lane is in flight; filling while
-- a short batch waits (maxBatchWait) for more events, which wake it when published. The row is
-- also the lane's lock: every transaction that changes a lane's live deliveries, or creates or
-- deletes the lane, holds it (see the notes at the top of lanes.ts).
CREATE TABLE lanes (
  target_id BIGINT NOT NULL REFERENCES channels(id),
  lane TEXT COLLATE "C" NOT NULL,
  state TEXT NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'parked', 'stalled')),
  ready_at BIGINT,
  leased_until BIGINT,
  filling BOOLEAN NOT NULL DEFAULT false,
  reason TEXT,
  since BIGINT,
  PRIMARY KEY (target_id, lane)
);
CREATE INDEX lanes_ready ON lanes (target_id, ready_at) WHERE ready_at IS NOT NULL;
CREATE INDEX lanes_blocked ON lanes (target_id, state, lane) WHERE state <> 'active';

CREATE TABLE attempts (
  id BIGSERIAL,
  delivery_id BIGINT NOT NULL REFERENCES deliveries(id) ON DELETE CASCADE,
  attempt INTEGER NOT NULL,
  started_at BIGINT NOT NULL,
  duration_ms INTEGER NOT NULL,
  status_code INTEGER,
  error TEXT,
  response TEXT,
  PRIMARY KEY (delivery_id, id)
);

-- Lanes and live deliveries are rewritten on every claim and settlement: vacuum them early.
ALTER TABLE lanes SET (autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_threshold = 500);
ALTER TABLE deliveries SET (autovacuum_vacuum_scale_factor = 0.05);
`,
  },
  {
    version: 2,
    name: 'circuit breakers',
    sql: `
CREATE TABLE breakers (
  origin TEXT COLLATE "C" PRIMARY KEY,
  state TEXT NOT NULL CHECK (state IN ('open', 'closed')),
  open_until BIGINT,
  reason TEXT,
  updated_at BIGINT NOT NULL
);
`,
  },
  {
    version: 3,
    name: 'lane cursors',
    sql: `
-- How many messages each lane of an ordered target has delivered, and the last one's id: the
-- lane position receivers are told. Kept apart from lanes, whose rows go when a lane empties;
-- written only by a settlement holding the lane's row lock.
CREATE TABLE lane_cursors (
  target_id BIGINT NOT NULL REFERENCES channels(id),
  lane TEXT COLLATE "C" NOT NULL,
  delivered BIGINT NOT NULL,
  last_id TEXT NOT NULL,
  PRIMARY KEY (target_id, lane)
);
`,
  },
  {
    version: 4,
    name: 'messages by key',
    sql: `
-- The message explorer finds a key's messages (a parked fifo key, an aggregate) without a scan.
CREATE INDEX messages_by_key ON messages (key) WHERE key IS NOT NULL;
`,
  },
  {
    version: 5,
    name: 'endpoint rate limits',
    sql: RATE_LIMITS_MIGRATION,
  },
  {
    version: 6,
    name: 'fenced attempts',
    sql: `
-- A call whose settlement was fenced (its lease had been taken over) still happened: its record
-- is kept, marked.
ALTER TABLE attempts ADD COLUMN fenced BOOLEAN NOT NULL DEFAULT false;
`,
  },
  {
    version: 7,
    name: 'target counters',
    sql: `
-- Per-target counters kept by the transactions that change deliveries, so stats() reads a few
-- rows per target instead of counting kept rows. Each connection adds to its own slot (its
-- backend pid), so concurrent transactions never wait on a counter row; sweeps fold the slots
-- into slot 0. delivered and delivered_sequence are lifetime values: sweeping does not lower them.
CREATE TABLE target_counts (
  target_id BIGINT NOT NULL REFERENCES channels(id),
  slot INTEGER NOT NULL,
  depth BIGINT NOT NULL DEFAULT 0,
  in_flight BIGINT NOT NULL DEFAULT 0,
  delivered BIGINT NOT NULL DEFAULT 0,
  deadlettered BIGINT NOT NULL DEFAULT 0,
  skipped BIGINT NOT NULL DEFAULT 0,
  delivered_sequence BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (target_id, slot)
);
INSERT INTO target_counts (target_id, slot, depth, in_flight, delivered, deadlettered, skipped, delivered_sequence)
SELECT target_id, 0, COUNT(*) FILTER (WHERE available_at IS NOT NULL), COUNT(*) FILTER (WHERE status = 'delivering'),
  COUNT(*) FILTER (WHERE status = 'delivered'), COUNT(*) FILTER (WHERE status = 'deadlettered'), COUNT(*) FILTER (WHERE status = 'skipped'),
  COALESCE(MAX(position) FILTER (WHERE status = 'delivered'), 0)
FROM deliveries GROUP BY target_id;
-- The oldest live message of a target: positions follow creation order.
CREATE INDEX deliveries_live ON deliveries (target_id, position) WHERE available_at IS NOT NULL;
ALTER TABLE target_counts SET (autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_threshold = 200);
`,
  },
  {
    version: 8,
    name: 'schedules',
    sql: `
-- Recurring schedules' shared state: how far each has dealt with its ticks, and whether paused.
CREATE TABLE schedules (
  name TEXT COLLATE "C" PRIMARY KEY,
  handled_until BIGINT NOT NULL,
  last_run_at BIGINT,
  paused BOOLEAN NOT NULL DEFAULT false
);
`,
  },
  {
    version: 9,
    name: 'priority and expiry',
    sql: `
-- Plain queues: a message's priority (higher is claimed first) and when it expires, kept on the
-- message as sent and copied to its delivery, where claims and the expiry sweep read them. A
-- queue's ttl is applied when a message is stored. Claims of a plain queue walk
-- deliveries_by_priority: priority first, then oldest due.
ALTER TABLE channels ADD COLUMN ttl_ms BIGINT;
ALTER TABLE messages ADD COLUMN priority SMALLINT NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN expires_at BIGINT;
ALTER TABLE deliveries ADD COLUMN priority SMALLINT NOT NULL DEFAULT 0;
ALTER TABLE deliveries ADD COLUMN expires_at BIGINT;
CREATE INDEX deliveries_by_priority ON deliveries (target_id, priority DESC, available_at, id) WHERE lane IS NULL AND available_at IS NOT NULL;
CREATE INDEX deliveries_expiring ON deliveries (expires_at) WHERE expires_at IS NOT NULL AND available_at IS NOT NULL;
`,
  },
  {
    version: 10,
    name: 'subscription filters',
    sql: `
-- A subscription's filter as declared (JSON, shown to operators), and its type and key patterns
-- as LIKE patterns, which the fan-out of a publish matches. NULL: no filter.
ALTER TABLE channels ADD COLUMN filter TEXT, ADD COLUMN filter_types TEXT[] COLLATE "C", ADD COLUMN filter_keys TEXT[] COLLATE "C";
`,
  },
  {
    version: 11,
    name: 'topic retention marks',
    sql: `
-- What retention took from each topic: the newest sequence and publish time swept away (written
-- by the sweep under the topic row lock). Every event after swept_sequence is kept, so a seek to
-- it or later can replay; an older point is refused. Topics swept before this version: the newest
-- sequence missing below a kept one (or every sequence when the newest are gone), and a time just
-- before the oldest event kept after it.
ALTER TABLE channels ADD COLUMN swept_sequence BIGINT NOT NULL DEFAULT 0;
ALTER TABLE channels ADD COLUMN swept_created_at BIGINT NOT NULL DEFAULT 0;
UPDATE channels c SET swept_sequence = GREATEST(
  COALESCE((SELECT MAX(m.sequence) - 1 FROM messages m WHERE m.channel_id = c.id AND m.sequence IS NOT NULL
    AND NOT EXISTS (SELECT 1 FROM messages p WHERE p.channel_id = c.id AND p.sequence = m.sequence - 1)), 0),
  CASE WHEN COALESCE((SELECT MAX(sequence) FROM messages WHERE channel_id = c.id), 0) < c.last_sequence THEN c.last_sequence ELSE 0 END)
WHERE c.kind = 'topic';
UPDATE channels c SET swept_created_at = COALESCE(
  (SELECT MIN(created_at) - 1 FROM messages WHERE channel_id = c.id AND sequence > c.swept_sequence),
  (extract(epoch FROM now()) * 1000)::bigint)
WHERE c.kind = 'topic' AND c.swept_sequence > 0;
`,
  },
  {
    version: 12,
    name: 'asynchronous acknowledgement',
    sql: `
-- An attempt answered 202 stays in flight until its completion or its deadline: deferred while
-- deferred_epoch equals the delivery's epoch (a later claim or takeover bumps the epoch, which
-- ends the deferral without another write). deferred_at is when the 202 came.
ALTER TABLE deliveries ADD COLUMN deferred_epoch INTEGER, ADD COLUMN deferred_at BIGINT, ADD COLUMN deferred_until BIGINT;
CREATE INDEX deliveries_deferred ON deliveries (target_id, deferred_until) WHERE deferred_until IS NOT NULL;
-- Secrets shared by every instance on the schema (the key completion tokens are signed with).
CREATE TABLE store_keys (
  name TEXT COLLATE "C" PRIMARY KEY,
  value TEXT NOT NULL
);
`,
  },
  {
    version: 13,
    name: 'lane claim and settle-and-claim functions',
    sql: LANE_FUNCTIONS_MIGRATION,
  },
  {
    version: 14,
    name: 'endpoint concurrency slots',
    sql: CONCURRENCY_SLOTS_MIGRATION,
  },
  {
    version: 15,
    name: 'settle-and-claim finds each lane head once',
    sql: LANE_HEAD_FLOOR_MIGRATION,
  },
  {
    version: 16,
    name: 'queue sends as a function planned once per connection',
    sql: ENQUEUE_FUNCTION_MIGRATION,
  },
  {
    version: 17,
    name: 'unordered settle-and-claim',
    sql: FREE_FUNCTIONS_MIGRATION,
  },
  {
    version: 18,
    name: 'topic publishes as a function planned once per connection',
    sql: PUBLISH_FUNCTION_MIGRATION,
  },
  {
    version: 19,
    name: 'lane claims reach lanes by key without statistics',
    sql: `
-- The claim functions' generic plans are made at their first call in each session, often while
-- the lanes table has no statistics yet (a new table, or one analysed while nearly empty). The
-- planner then takes one target's lanes for a handful of rows, and chose bitmap scans of every
-- lane of the target: to update the few lanes a claim leases or makes wait (three scans per
-- claim, 1,000 lanes read for 30 claimed), and to pick the lanes due (all of them read and sorted
-- for the first few). Without bitmap scans each lane is reached by its key, and the lanes due
-- are read in ready_at order up to the limit, whatever the statistics say.
ALTER FUNCTION claim_lanes(BIGINT, BIGINT, INTEGER, INTEGER, BIGINT, TEXT, BIGINT) SET enable_bitmapscan = off;
ALTER FUNCTION claim_lanes_from(BIGINT, BIGINT, INTEGER, INTEGER, BIGINT, TEXT, BIGINT, TEXT[], BIGINT[]) SET enable_bitmapscan = off;
`,
  },
  {
    version: 20,
    name: 'unordered claims read due deliveries in priority order without statistics; no JIT in the hot functions',
    sql: `
-- An unordered claim wants the first few due deliveries in (priority, due, id) order, which
-- deliveries_by_priority gives as it is read. Planned while the deliveries table had statistics
-- of a handful of rows, the planner took every due delivery of the target from deliveries_ready
-- and sorted them for the first ten: a queue with a backlog of 20,000 read and sorted 20,000 rows
-- per claim. Without a sort, only the ordered index is left. The claim every queue makes is this
-- function's (called with no outcomes, it is the claim alone); what else it runs sorts a few rows.
ALTER FUNCTION settle_free_and_claim(BIGINT[], INTEGER[], TEXT[], BIGINT[], TEXT[], TEXT[], INTEGER[], BIGINT[], INTEGER[], INTEGER[], TEXT[], TEXT[], BIGINT,
  BIGINT, INTEGER, TEXT, BIGINT, BOOLEAN) SET enable_sort = off;
-- A plan node the settings above forbid but a statement cannot do without (the final sort of a
-- few claimed rows) is costed at 10^10, past jit_above_cost: each call would compile its plans to
-- machine code, 0.3 to 0.5 s per call. These functions touch a few rows each: never JIT.
ALTER FUNCTION settle_free_and_claim(BIGINT[], INTEGER[], TEXT[], BIGINT[], TEXT[], TEXT[], INTEGER[], BIGINT[], INTEGER[], INTEGER[], TEXT[], TEXT[], BIGINT,
  BIGINT, INTEGER, TEXT, BIGINT, BOOLEAN) SET jit = off;
ALTER FUNCTION settle_and_claim(BIGINT[], INTEGER[], TEXT[], BIGINT[], TEXT[], TEXT[], INTEGER[], BIGINT[], INTEGER[], INTEGER[], TEXT[], TEXT[], BIGINT,
  BIGINT, INTEGER, INTEGER, BIGINT, TEXT, BIGINT) SET jit = off;
ALTER FUNCTION claim_lanes(BIGINT, BIGINT, INTEGER, INTEGER, BIGINT, TEXT, BIGINT) SET jit = off;
ALTER FUNCTION claim_lanes_from(BIGINT, BIGINT, INTEGER, INTEGER, BIGINT, TEXT, BIGINT, TEXT[], BIGINT[]) SET jit = off;
ALTER FUNCTION enqueue_messages(BIGINT, TEXT[], TEXT[], TEXT[], TEXT[], TEXT[], BIGINT[], BIGINT, BOOLEAN, TEXT, TEXT, SMALLINT[], BIGINT[]) SET jit = off;
ALTER FUNCTION publish_messages(BIGINT, TEXT[], TEXT[], TEXT[], TEXT[], TEXT[], BIGINT[], BIGINT, TEXT, TEXT) SET jit = off;
`,
  },
  {
    version: 21,
    name: 'settle-and-claim of one delivery in short statements, claiming the moved lane at once',
    sql: SINGLE_SETTLE_MIGRATION,
  },
  {
    version: 22,
    name: 'settlements and lane claims reach each row by key once, not once per row of the batch',
    sql: LINEAR_JOINS_MIGRATION,
  },
  {
    version: 23,
    name: 'the settlements of failing calls and of mixed batches as functions planned for key access',
    sql: HOLDING_FUNCTIONS_MIGRATION,
  },
  {
    version: 24,
    name: 'renewals and releases of leases as functions that reach each row by key once',
    sql: LEASE_FUNCTIONS_MIGRATION,
  },
  {
    version: 25,
    name: 'indexes of deliveries on generated columns, so that claims of laned deliveries are HOT updates',
    sql: HOT_CLAIMS_MIGRATION,
  },
  {
    version: 26,
    name: 'a claim that waited for a lane lock leases from when it got the lock',
    sql: LEASE_AFTER_WAIT_MIGRATION,
  },
  {
    version: 27,
    name: 'a settlement repeated for an attempt already settled records nothing',
    sql: REPEATED_SETTLEMENTS_MIGRATION,
  },
  {
    version: 28,
    name: 'a batch of retries, stalls and parks gives up on a lane another transaction holds, and is settled one by one',
    sql: HOLDING_TIMEOUT_MIGRATION,
  },
  {
    version: 29,
    name: 'the wait for a lane lock is read in one inlined expression',
    sql: LOCK_WAIT_INLINE_MIGRATION,
  },
  {
    version: 30,
    name: 'the share of an endpoint\'s concurrency is read in the statements that take and hold slots',
    sql: CONCURRENCY_SHARE_INLINE_MIGRATION,
  },
  {
    version: 31,
    name: 'the look-ahead of an unordered claim reads the earliest due delivery in index order',
    sql: LOOK_AHEAD_IN_ORDER_MIGRATION,
  },
  {
    version: 32,
    name: 'an unordered claim reads one index range per priority present',
    sql: CLAIM_BY_PRIORITY_MIGRATION,
  },
  {
    version: 33,
    name: 'the live deliveries a drain looks at are read in index order up to the limit',
    sql: LIST_LIVE_MIGRATION,
  },
  {
    version: 34,
    name: 'a lease given back untried keeps its message\'s due time',
    sql: RELEASE_KEEPS_DUE_TIME_MIGRATION,
  },
  {
    version: 35,
    name: 'an attempt is recorded without a foreign-key trigger; a statement deleting deliveries deletes their attempts',
    sql: ATTEMPTS_UNCHECKED_MIGRATION,
  },
  {
    version: 36,
    name: 'a send to a queue claims its instance\'s free slots in its own transaction, and commits durably',
    sql: SEND_HAND_OFF_MIGRATION,
  },
];

/** Any constant shared by every Offload build; the schema name tells stores apart. */
const LOCK_CLASS = 0x0ff10ad;

/**
 * Brings the schema up to date. Instances starting together serialize on a transaction-level
 * advisory lock keyed by the schema, so each migration runs exactly once; the others then find
 * it applied. The schema is created when missing (which needs CREATE on the database).
 * `upTo` stops at an older version (tests of upgrades).
 */
export async function migrate(client: pg.PoolClient, schema: string, upTo = Number.POSITIVE_INFINITY): Promise<void> {
  const s = quoteIdent(schema);
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock($1::int, hashtext($2))', [LOCK_CLASS, schema]);
    const exists = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema]);
    if (exists.rowCount === 0) await client.query(`CREATE SCHEMA ${s}`);
    await client.query(`SET LOCAL search_path TO ${s}`);
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`);
    const applied = new Set((await client.query<{ version: number }>('SELECT version FROM schema_migrations')).rows.map((r) => r.version));
    for (const migration of MIGRATIONS) {
      if (applied.has(migration.version) || migration.version > upTo) continue;
      await client.query(migration.sql);
      await client.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [migration.version, migration.name, Date.now()]);
    }
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  }
}
