import type { Database } from 'better-sqlite3';
import { CONCURRENCY_SLOTS_MIGRATION } from './concurrency-slots.js';
import { RATE_LIMITS_MIGRATION } from './rate-limits.js';

/**
 * A delivery row breaking the invariant (an available_at exactly while ready or delivering, and a
 * known status), as a condition on NEW: one branch per status, no list after IN.
 */
const STATUS_VIOLATION = `CASE NEW.status
  WHEN 'ready' THEN NEW.available_at IS NULL
  WHEN 'delivering' THEN NEW.available_at IS NULL
  WHEN 'delivered' THEN NEW.available_at IS NOT NULL
  WHEN 'deadlettered' THEN NEW.available_at IS NOT NULL
  WHEN 'skipped' THEN NEW.available_at IS NOT NULL
  ELSE 1 END`;

/**
 * Numbered migrations of the SQLite schema, applied in order inside one transaction each.
 * Never edit a released migration; add the next number.
 */
export const MIGRATIONS: ReadonlyArray<{ version: number; name: string; sql: string }> = [
  {
    version: 1,
    name: 'initial schema',
    sql: `
CREATE TABLE channels (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  kind TEXT NOT NULL CHECK (kind IN ('queue', 'fifo', 'topic', 'subscription')),
  topic_id INTEGER REFERENCES channels(id),
  ordering TEXT NOT NULL DEFAULT 'none',
  paused INTEGER NOT NULL DEFAULT 0,
  last_sequence INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL
);

CREATE TABLE messages (
  pk INTEGER PRIMARY KEY,
  channel_id INTEGER NOT NULL REFERENCES channels(id),
  id TEXT NOT NULL,
  key TEXT,
  type TEXT NOT NULL,
  data TEXT NOT NULL,
  metadata TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  deliver_at INTEGER,
  sequence INTEGER,
  -- (id, channel_id) serves both deduplication and the lookup by id alone.
  UNIQUE (id, channel_id)
);
CREATE INDEX messages_by_age ON messages (created_at);
CREATE INDEX messages_by_sequence ON messages (channel_id, sequence) WHERE sequence IS NOT NULL;

-- available_at is non-null exactly while a delivery is live (ready or delivering): for a ready
-- delivery it is when it may be tried, for a delivering one when its lease expires.
CREATE TABLE deliveries (
  id INTEGER PRIMARY KEY,
  message_pk INTEGER NOT NULL REFERENCES messages(pk),
  target_id INTEGER NOT NULL REFERENCES channels(id),
  lane TEXT,
  position INTEGER NOT NULL,
  status TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  available_at INTEGER,
  epoch INTEGER NOT NULL DEFAULT 0,
  lease_owner TEXT,
  last_error TEXT,
  result TEXT,
  updated_at INTEGER NOT NULL
);
CREATE INDEX deliveries_ready ON deliveries (target_id, available_at) WHERE lane IS NULL AND available_at IS NOT NULL;
CREATE INDEX deliveries_lane ON deliveries (target_id, lane, position) WHERE lane IS NOT NULL AND available_at IS NOT NULL;
CREATE INDEX deliveries_final ON deliveries (target_id, status, id) WHERE available_at IS NULL;
CREATE INDEX deliveries_message ON deliveries (message_pk);

-- One row per lane that has live deliveries (or is blocked). ready_at is when the lane may be
-- claimed: its head's retry time, or the lease expiry while its head is in flight; null while
-- parked. Ordering claims by ready_at makes a lane that just finished wait behind the others.
-- leased_until is set while a delivery (or batch) of the lane is in flight: the one-in-flight rule.
-- filling is set while a short batch waits (maxBatchWait) for more events; a new event wakes it.
CREATE TABLE lanes (
  target_id INTEGER NOT NULL REFERENCES channels(id),
  lane TEXT NOT NULL,
  state TEXT NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'parked', 'stalled')),
  ready_at INTEGER,
  leased_until INTEGER,
  filling INTEGER NOT NULL DEFAULT 0,
  reason TEXT,
  since INTEGER,
  PRIMARY KEY (target_id, lane)
) WITHOUT ROWID;
CREATE INDEX lanes_ready ON lanes (target_id, ready_at) WHERE ready_at IS NOT NULL;
CREATE INDEX lanes_blocked ON lanes (target_id, state) WHERE state <> 'active';

CREATE TABLE attempts (
  delivery_id INTEGER NOT NULL REFERENCES deliveries(id),
  attempt INTEGER NOT NULL,
  started_at INTEGER NOT NULL,
  duration_ms INTEGER NOT NULL,
  status_code INTEGER,
  error TEXT,
  response TEXT
);
CREATE INDEX attempts_by_delivery ON attempts (delivery_id);
`,
  },
  {
    version: 2,
    name: 'circuit breakers',
    sql: `
CREATE TABLE breakers (
  origin TEXT PRIMARY KEY,
  state TEXT NOT NULL CHECK (state IN ('open', 'closed')),
  open_until INTEGER,
  reason TEXT,
  updated_at INTEGER NOT NULL
) WITHOUT ROWID;
`,
  },
  {
    version: 3,
    name: 'delivered counters',
    sql: `
-- Delivered totals are kept per target instead of counted, and delivered rows stay out of the
-- index that lists dead letters and skipped messages: one index write less per delivery.
ALTER TABLE channels ADD COLUMN delivered_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE channels ADD COLUMN delivered_sequence INTEGER NOT NULL DEFAULT 0;
UPDATE channels SET
  delivered_count = (SELECT COUNT(*) FROM deliveries d WHERE d.target_id = channels.id AND d.status = 'delivered'),
  delivered_sequence = COALESCE((SELECT MAX(position) FROM deliveries d WHERE d.target_id = channels.id AND d.status = 'delivered'), 0);
DROP INDEX deliveries_final;
CREATE INDEX deliveries_kept ON deliveries (target_id, status, id) WHERE status IN ('deadlettered', 'skipped');
`,
  },
  {
    version: 4,
    name: 'lane cursors',
    sql: `
-- How many messages each lane of an ordered target has delivered, and the last one's id: the
-- lane position receivers are told. Kept apart from lanes, whose rows go when a lane empties.
CREATE TABLE lane_cursors (
  target_id INTEGER NOT NULL REFERENCES channels(id),
  lane TEXT NOT NULL,
  delivered INTEGER NOT NULL,
  last_id TEXT NOT NULL,
  PRIMARY KEY (target_id, lane)
) WITHOUT ROWID;
`,
  },
  {
    version: 5,
    name: 'messages by key',
    sql: `
-- The message explorer finds a key's messages (a parked fifo key, an aggregate) without a scan.
CREATE INDEX messages_by_key ON messages (key) WHERE key IS NOT NULL;
`,
  },
  {
    version: 6,
    name: 'endpoint rate limits',
    sql: RATE_LIMITS_MIGRATION,
  },
  {
    version: 7,
    name: 'target counters',
    sql: `
-- Live, in-flight, dead-lettered and skipped deliveries are counted per target in the
-- transactions that change them (delivered_count already is), so stats() reads one row per
-- target instead of counting kept rows. The oldest live message of a target is found through
-- deliveries_live: positions follow creation order.
ALTER TABLE channels ADD COLUMN depth INTEGER NOT NULL DEFAULT 0;
ALTER TABLE channels ADD COLUMN in_flight INTEGER NOT NULL DEFAULT 0;
ALTER TABLE channels ADD COLUMN deadlettered_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE channels ADD COLUMN skipped_count INTEGER NOT NULL DEFAULT 0;
UPDATE channels SET
  depth = (SELECT COUNT(*) FROM deliveries d WHERE d.target_id = channels.id AND d.available_at IS NOT NULL),
  in_flight = (SELECT COUNT(*) FROM deliveries d WHERE d.target_id = channels.id AND d.status = 'delivering'),
  deadlettered_count = (SELECT COUNT(*) FROM deliveries d WHERE d.target_id = channels.id AND d.status = 'deadlettered'),
  skipped_count = (SELECT COUNT(*) FROM deliveries d WHERE d.target_id = channels.id AND d.status = 'skipped');
CREATE INDEX deliveries_live ON deliveries (target_id, position) WHERE available_at IS NOT NULL;
`,
  },
  {
    version: 8,
    name: 'fenced attempts',
    sql: `
-- A call whose settlement was fenced (its lease had been taken over) still happened: its record
-- is kept, marked.
ALTER TABLE attempts ADD COLUMN fenced INTEGER NOT NULL DEFAULT 0;
`,
  },
  {
    version: 9,
    name: 'delivery status invariant',
    sql: `
-- The invariant PostgreSQL checks with a CHECK constraint (SQLite cannot add one to an existing
-- table): a delivery has an available_at exactly while it is ready or delivering.
CREATE TRIGGER deliveries_status_insert BEFORE INSERT ON deliveries
WHEN NEW.status NOT IN ('ready', 'delivering', 'delivered', 'deadlettered', 'skipped')
  OR (NEW.available_at IS NOT NULL) <> (NEW.status IN ('ready', 'delivering'))
BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: deliveries status and available_at'); END;
CREATE TRIGGER deliveries_status_update BEFORE UPDATE OF status, available_at ON deliveries
WHEN NEW.status NOT IN ('ready', 'delivering', 'delivered', 'deadlettered', 'skipped')
  OR (NEW.available_at IS NOT NULL) <> (NEW.status IN ('ready', 'delivering'))
BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: deliveries status and available_at'); END;
`,
  },
  {
    version: 10,
    name: 'schedules',
    sql: `
-- Recurring schedules' shared state: how far each has dealt with its ticks, and whether paused.
CREATE TABLE schedules (
  name TEXT PRIMARY KEY,
  handled_until INTEGER NOT NULL,
  last_run_at INTEGER,
  paused INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
`,
  },
  {
    version: 11,
    name: 'priority and expiry',
    sql: `
-- Plain queues: a message's priority (higher is claimed first) and when it expires, kept on the
-- message as sent and copied to its delivery, where claims and the expiry sweep read them. A
-- queue's ttl is applied when a message is stored. Claims of a plain queue walk
-- deliveries_by_priority: priority first, then oldest due.
ALTER TABLE channels ADD COLUMN ttl_ms INTEGER;
ALTER TABLE messages ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN expires_at INTEGER;
ALTER TABLE deliveries ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
ALTER TABLE deliveries ADD COLUMN expires_at INTEGER;
CREATE INDEX deliveries_by_priority ON deliveries (target_id, priority DESC, available_at, id) WHERE lane IS NULL AND available_at IS NOT NULL;
CREATE INDEX deliveries_expiring ON deliveries (expires_at) WHERE expires_at IS NOT NULL AND available_at IS NOT NULL;
`,
  },
  {
    version: 12,
    name: 'subscription filters',
    sql: `
-- A subscription's filter as declared (JSON, shown to operators), and its type and key patterns
-- as JSON arrays of GLOB patterns, which the fan-out of a publish matches. NULL: no filter.
ALTER TABLE channels ADD COLUMN filter TEXT;
ALTER TABLE channels ADD COLUMN filter_types TEXT;
ALTER TABLE channels ADD COLUMN filter_keys TEXT;
`,
  },
  {
    version: 13,
    name: 'topic retention marks',
    sql: `
-- What retention took from each topic: the newest sequence and publish time swept away. Every
-- event after swept_sequence is kept, so a seek to it or later can replay; an older point is
-- refused. Topics swept before this version: the newest sequence missing below a kept one (or
-- every sequence when the newest are gone), and a time just before the oldest event kept after it.
ALTER TABLE channels ADD COLUMN swept_sequence INTEGER NOT NULL DEFAULT 0;
ALTER TABLE channels ADD COLUMN swept_created_at INTEGER NOT NULL DEFAULT 0;
UPDATE channels SET swept_sequence = MAX(
  COALESCE((SELECT MAX(m.sequence) - 1 FROM messages m WHERE m.channel_id = channels.id AND m.sequence IS NOT NULL
    AND NOT EXISTS (SELECT 1 FROM messages p WHERE p.channel_id = channels.id AND p.sequence = m.sequence - 1)), 0),
  CASE WHEN COALESCE((SELECT MAX(sequence) FROM messages WHERE channel_id = channels.id), 0) < last_sequence THEN last_sequence ELSE 0 END)
WHERE kind = 'topic';
UPDATE channels SET swept_created_at = COALESCE(
  (SELECT MIN(created_at) - 1 FROM messages WHERE channel_id = channels.id AND sequence > channels.swept_sequence),
  CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER))
WHERE kind = 'topic' AND swept_sequence > 0;
`,
  },
  {
    version: 14,
    name: 'asynchronous acknowledgement',
    sql: `
-- An attempt answered 202 stays in flight until its completion or its deadline: deferred while
-- deferred_epoch equals the delivery's epoch (a later claim or takeover bumps the epoch, which
-- ends the deferral without another write). deferred_at is when the 202 came.
ALTER TABLE deliveries ADD COLUMN deferred_epoch INTEGER;
ALTER TABLE deliveries ADD COLUMN deferred_at INTEGER;
ALTER TABLE deliveries ADD COLUMN deferred_until INTEGER;
CREATE INDEX deliveries_deferred ON deliveries (target_id, deferred_until) WHERE deferred_until IS NOT NULL;
-- Secrets shared by every process on the file (the key completion tokens are signed with).
CREATE TABLE store_keys (
  name TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;
`,
  },
  {
    version: 16,
    name: 'endpoint concurrency slots',
    sql: CONCURRENCY_SLOTS_MIGRATION,
  },
  {
    version: 17,
    name: 'plain deliveries in one index',
    sql: `
-- A plain queue's claims, and the time its next delivery is due, read deliveries_by_priority
-- alone. deliveries_ready (due times without priorities) was left to that one question, and its
-- entry was still rewritten by every claim and removed by every settlement.
DROP INDEX deliveries_ready;
`,
  },
  {
    version: 18,
    name: 'delivery status invariant without a list',
    sql: `
-- The invariant of migration 9, the same rows refused, written as a CASE: a list after IN in a
-- trigger's condition is a temporary table SQLite builds on every statement that fires it, and
-- every send, claim and settlement fires one (about a fifth of the instructions of a delivery).
DROP TRIGGER deliveries_status_insert;
DROP TRIGGER deliveries_status_update;
CREATE TRIGGER deliveries_status_insert BEFORE INSERT ON deliveries
WHEN ${STATUS_VIOLATION}
BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: deliveries status and available_at'); END;
CREATE TRIGGER deliveries_status_update BEFORE UPDATE OF status, available_at ON deliveries
WHEN ${STATUS_VIOLATION}
BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: deliveries status and available_at'); END;
`,
  },
  {
    version: 19,
    name: 'lane states without a list',
    sql: `
-- The same lanes, and the same states allowed, checked without IN: a list after IN in a CHECK is
-- a temporary table SQLite builds on every statement that writes a lane's state (every send to
-- a fifo queue, and every settlement of an ordered delivery). A CHECK cannot be changed in
-- place, so the table is copied (nothing refers to it).
CREATE TABLE lanes_copy (
  target_id INTEGER NOT NULL REFERENCES channels(id),
  lane TEXT NOT NULL,
  state TEXT NOT NULL DEFAULT 'active' CHECK (state = 'active' OR state = 'parked' OR state = 'stalled'),
  ready_at INTEGER,
  leased_until INTEGER,
  filling INTEGER NOT NULL DEFAULT 0,
  reason TEXT,
  since INTEGER,
  PRIMARY KEY (target_id, lane)
) WITHOUT ROWID;
INSERT INTO lanes_copy (target_id, lane, state, ready_at, leased_until, filling, reason, since)
  SELECT target_id, lane, state, ready_at, leased_until, filling, reason, since FROM lanes;
DROP TABLE lanes;
ALTER TABLE lanes_copy RENAME TO lanes;
CREATE INDEX lanes_ready ON lanes (target_id, ready_at) WHERE ready_at IS NOT NULL;
CREATE INDEX lanes_blocked ON lanes (target_id, state) WHERE state <> 'active';
`,
  },
];

/** The schema version this build writes: the last migration's number. */
export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;

/** Applies the migrations not yet applied, each in its own immediate transaction (safe with other processes on the file). */
export function migrate(db: Database, upTo = SCHEMA_VERSION): void {
  db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)');
  for (const migration of MIGRATIONS) {
    if (migration.version > upTo) return;
    db.transaction(() => {
      // Re-read inside the write lock: another process may have applied it meanwhile.
      if (db.prepare('SELECT 1 FROM schema_migrations WHERE version = ?').get(migration.version)) return;
      db.exec(migration.sql);
      db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(migration.version, migration.name, Date.now());
    }).immediate();
  }
}
