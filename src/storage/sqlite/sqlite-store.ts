import Database from 'better-sqlite3';
import type { Database as Db } from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { systemClock, type Clock } from '../../domain/clock.js';
import { NotFoundError, StoreUnavailableError } from '../../domain/errors.js';
import type { NewMessage } from '../../domain/message.js';
import type {
  ChannelDeclaration,
  Claim,
  ClaimRequest,
  LeaseRef,
  SendResult,
  Settlement,
  SettleResult,
  Store,
} from '../port.js';
import { createTickBatcher } from '../tick-batcher.js';
import { MIGRATIONS } from './migrations.js';
import { createSqliteAdmin } from './sqlite-admin.js';
import { createRateLimits } from './rate-limits.js';
import { createChannelCache, type ChannelRow } from './channel-cache.js';
import { createWalSync } from './wal-sync.js';
import { duplicateResult, lanePositions, rowToMessage, type DuplicateRow, type MessageRow } from '../rows.js';

export interface SqliteStoreOptions {
  /** Database file; its folder is created when missing. */
  path: string;
  /**
   * `fsync` (default): a send is acknowledged after its commit reached the disk, so it survives
   * power loss. `process`: after it reached the OS, so it survives a process crash only.
   */
  durability?: 'fsync' | 'process';
  clock?: Clock;
}

export interface SqliteStore extends Store {
  /**
   * Transactional outbox: stores messages using the application's own better-sqlite3
   * connection inside its open transaction, so they commit (or roll back) with its state.
   * The connection must open the same database file. Returns the results synchronously.
   */
  sendWithin(db: Db, channel: string, messages: readonly NewMessage[]): SendResult[];
  /**
   * Called with the targets that have new work as soon as a send commits, before its flush to
   * disk completes: delivery starts while the producer still waits for durability.
   */
  onWake(listener: (targets: string[]) => void): () => void;
}

interface SendItem {
  channel: ChannelRow;
  message: NewMessage;
}

/** Opens (creating if needed) a SQLite store in WAL mode. */
export function createSqliteStore(options: SqliteStoreOptions): SqliteStore {
  const clock = options.clock ?? systemClock;
  if (options.path !== ':memory:') mkdirSync(dirname(options.path), { recursive: true });
  // One connection; every commit is fast (NORMAL). Sends then wait for a shared WAL flush
  // (group commit); claims and settlements do not, as losing one at a power cut only means a
  // redelivery.
  const worker = open(options.path, 'NORMAL');
  const walSync = options.durability === 'process' || options.path === ':memory:' ? null : createWalSync(options.path);
  // Statements are prepared against the schema, so the schema is brought up to date on open.
  migrate(worker);
  const channels = createChannelCache(worker);
  channels.reload();
  const sql = prepareStatements(worker);
  const outboxStatements = new WeakMap<Db, Statements>();
  const statementsFor = (db: Db): Statements => {
    let st = outboxStatements.get(db);
    if (!st) outboxStatements.set(db, (st = prepareStatements(db)));
    return st;
  };

  function insertMessages(db: Db, items: readonly SendItem[]): SendResult[] {
    const now = clock.now();
    const st = db === worker ? sql : statementsFor(db);
    return items.map(({ channel, message }) => {
      const sequence = channel.kind === 'topic' ? (st.nextSequence.get(channel.id) as { last_sequence: number }).last_sequence : null;
      const inserted = st.insertMessage.get(
        channel.id, message.id, message.key, message.type, message.data, JSON.stringify(message.metadata),
        now, message.deliverAt, sequence,
      ) as { pk: number } | undefined;
      if (!inserted) {
        if (sequence !== null) st.undoSequence.run(channel.id);
        return duplicateResult(message.id, st.duplicateStatus.all(channel.id, message.id) as DuplicateRow[], now);
      }
      const availableAt = Math.max(now, message.deliverAt ?? now);
      if (channel.kind === 'topic') {
        st.fanOut.run(inserted.pk, message.key ?? '', sequence, availableAt, now, channel.id);
        st.fanOutLanes.run(message.key ?? '', availableAt, channel.id);
        return { id: message.id, status: 'queued', duplicate: false, sequence: sequence! };
      }
      const lane = channel.kind === 'fifo' ? message.key ?? '' : null;
      st.insertDelivery.run(inserted.pk, channel.id, lane, inserted.pk, availableAt, now);
      if (lane !== null) st.insertLane.run(channel.id, lane, availableAt);
      return { id: message.id, status: availableAt > now ? 'scheduled' : 'queued', duplicate: false };
    });
  }

  const wakeListeners = new Set<(targets: string[]) => void>();
  const targetsOf = (items: readonly SendItem[]): string[] => {
    const names = new Set<string>();
    for (const { channel } of items) {
      if (channel.kind !== 'topic') names.add(channel.name);
      else for (const sub of channels.all()) if (sub.topicId === channel.id) names.add(sub.name);
    }
    return [...names];
  };

  const sendBatcher = createTickBatcher<SendItem, SendResult>(async (items) => {
    const results = worker.transaction(() => insertMessages(worker, items)).immediate();
    if (wakeListeners.size > 0) {
      const targets = targetsOf(items);
      // A listener's failure must not fail the sends, which are committed already.
      for (const listener of wakeListeners) {
        try {
          listener(targets);
        } catch {
          // the dispatcher also polls; nothing is lost
        }
      }
    }
    await walSync?.sync();
    return results;
  });

  const settleBatcher = createTickBatcher<Settlement, SettleResult>((items) =>
    worker.transaction(() => settleAll(sql, items, clock.now())).immediate(),
  );

  /** Leases the rows of one lane claim in one statement, keeping their order. */
  function leaseRows<R extends { delivery_id: number }>(rows: R[], owner: string, leaseUntil: number, now: number): Array<{ row: R; leased: { epoch: number; attempts: number } }> {
    if (rows.length === 1) return [{ row: rows[0]!, leased: sql.lease.get(owner, leaseUntil, now, rows[0]!.delivery_id) as { epoch: number; attempts: number } }];
    const leased = new Map((sql.leaseMany.all(owner, leaseUntil, now, JSON.stringify(rows.map((r) => r.delivery_id))) as Array<{ id: number; epoch: number; attempts: number }>).map((l) => [l.id, l]));
    return rows.map((row) => ({ row, leased: leased.get(row.delivery_id)! }));
  }

  const claimTx = worker.transaction((request: ClaimRequest, target: ChannelRow): Claim[] => {
    const now = clock.now();
    if (target.paused || (target.topicId !== null && channels.byId(target.topicId)?.paused)) return [];
    const leaseUntil = now + request.leaseMs;
    if (target.ordering === 'none') {
      // Two statements for the whole batch: lease the rows, then read their messages.
      const leased = sql.leaseReady.all(request.owner, leaseUntil, now, target.id, now, request.limit) as Array<{ id: number; message_pk: number; epoch: number; attempts: number }>;
      if (leased.length === 0) return [];
      const messages = new Map((sql.messagesByPk.all(JSON.stringify(leased.map((l) => l.message_pk))) as MessageRow[]).map((m) => [m.pk, m]));
      return leased.map((l) => ({
        target: target.name,
        lane: null,
        deliveries: [{ deliveryId: l.id, epoch: l.epoch, attempt: l.attempts, message: rowToMessage(messages.get(l.message_pk)!, target) }],
      }));
    }
    const lanes = sql.readyLanes.all(target.id, now, now, request.limit) as Array<{ lane: string }>;
    const claims: Claim[] = [];
    for (const { lane } of lanes) {
      const rows = sql.laneHead.all(target.id, lane, request.batchSize ?? 1) as Array<MessageRow & { delivery_id: number; status: string; available_at: number; attempts: number }>;
      const head = rows[0];
      if (!head) {
        sql.deleteLane.run(target.id, lane);
        continue;
      }
      // Guard the one-in-flight rule against any stale ready_at: a head still leased, or not
      // yet due, makes the lane wait for exactly that moment.
      if (head.available_at > now) {
        sql.setLaneReady.run(head.available_at, target.id, lane);
        continue;
      }
      const fillBy = head.created_at + (request.maxBatchWaitMs ?? 0);
      if (rows.length < (request.batchSize ?? 1) && fillBy > now && head.attempts === 0) {
        sql.waitForFill.run(fillBy, target.id, lane);
        continue;
      }
      sql.leaseLane.run(leaseUntil, leaseUntil, target.id, lane);
      const cursor = sql.laneCursor.get(target.id, lane) as { delivered: number; last_id: string } | undefined;
      const positions = lanePositions(lane, cursor, rows.map((r) => r.id));
      claims.push({
        target: target.name,
        lane,
        deliveries: leaseRows(rows, request.owner, leaseUntil, now).map(({ row, leased }, i) => ({
          deliveryId: row.delivery_id,
          epoch: leased.epoch,
          attempt: leased.attempts,
          message: rowToMessage(row, target),
          lanePosition: positions[i]!,
        })),
      });
    }
    return claims;
  });

  const renewTx = worker.transaction((leases: readonly LeaseRef[], leaseMs: number): number[] => {
    const now = clock.now();
    const until = now + leaseMs;
    const lost: number[] = [];
    for (const lease of leases) {
      const row = sql.renew.get(until, now, lease.deliveryId, lease.epoch) as { target_id: number; lane: string | null } | undefined;
      if (!row) lost.push(lease.deliveryId);
      else if (row.lane !== null) sql.leaseLane.run(until, until, row.target_id, row.lane);
    }
    return lost;
  });

  const releaseTx = worker.transaction((leases: readonly LeaseRef[]) => {
    const now = clock.now();
    for (const lease of leases) {
      const row = sql.release.get(now, now, lease.deliveryId, lease.epoch) as { target_id: number; lane: string | null } | undefined;
      if (row?.lane != null) sql.unleaseLane.run(now, row.target_id, row.lane);
    }
  });

  const admin = createSqliteAdmin(worker, channels, clock);

  return withStoreErrors({
    ...admin,
    ...createRateLimits(worker, clock),
    async migrate() {
      migrate(worker);
      channels.reload();
    },
    async declare(declarations: readonly ChannelDeclaration[]) {
      declareChannels(worker, declarations, clock.now());
      channels.reload();
    },
    async send(channelName, messages) {
      const channel = channels.require(channelName);
      if (channel.kind === 'subscription') throw new NotFoundError(`'${channelName}' is a subscription; publish to its topic`);
      return sendBatcher.push(messages.map((message) => ({ channel, message })));
    },
    onWake(listener) {
      wakeListeners.add(listener);
      return () => wakeListeners.delete(listener);
    },
    sendWithin(db, channelName, messages) {
      const channel = channels.require(channelName);
      return insertMessages(db, messages.map((message) => ({ channel, message })));
    },
    async claim(request) {
      const target = channels.require(request.target);
      return claimTx(request, channels.refreshPaused(target));
    },
    async renew(leases, leaseMs) {
      return leases.length === 0 ? [] : renewTx(leases, leaseMs);
    },
    settle(settlements) {
      return settlements.length === 0 ? Promise.resolve([]) : settleBatcher.push(settlements);
    },
    async settleAndClaim(settlements, next) {
      const target = channels.require(next.target);
      return worker.transaction(() => {
        const results = settleAll(sql, settlements, clock.now());
        return { results, claims: claimTx(next, channels.refreshPaused(target)) };
      }).immediate();
    },
    async release(leases) {
      if (leases.length > 0) releaseTx(leases);
    },
    async nextWakeAt(targetName) {
      const target = channels.require(targetName);
      const stmt = target.ordering === 'none' ? sql.nextReady : sql.nextLane;
      return (stmt.get(target.id) as { at: number | null }).at;
    },
    async ping() {
      worker.prepare('SELECT 1').get();
    },
    async probeWrite() {
      worker.prepare('UPDATE channels SET paused = paused WHERE id = (SELECT MIN(id) FROM channels)').run();
    },
    async close() {
      worker.close();
    },
  });
}

/**
 * Failures of the database itself (disk full, I/O error, locked, corrupt) become
 * StoreUnavailableError: the API answers 503 and the dispatcher retries, instead of a crash.
 */
function withStoreErrors<T extends object>(store: T): T {
  const wrapped: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(store)) {
    if (typeof value !== 'function') {
      wrapped[name] = value;
      continue;
    }
    wrapped[name] = (...args: unknown[]) => {
      try {
        const result = (value as (...a: unknown[]) => unknown)(...args);
        return result instanceof Promise ? result.catch(rethrow) : result;
      } catch (error) {
        return rethrow(error);
      }
    };
  }
  return wrapped as T;
}

function rethrow(error: unknown): never {
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && code.startsWith('SQLITE_') && !code.startsWith('SQLITE_CONSTRAINT')) {
    throw new StoreUnavailableError(`the SQLite store failed (${code}): ${(error as Error).message}`, error);
  }
  throw error;
}

function open(path: string, synchronous: 'FULL' | 'NORMAL'): Db {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${synchronous}`);
  db.pragma('busy_timeout = 2000');
  db.pragma('cache_size = -32000');
  return db;
}

function migrate(db: Db): void {
  db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)');
  const applied = new Set((db.prepare('SELECT version FROM schema_migrations').all() as Array<{ version: number }>).map((r) => r.version));
  for (const migration of MIGRATIONS) {
    if (applied.has(migration.version)) continue;
    db.transaction(() => {
      db.exec(migration.sql);
      db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(migration.version, migration.name, Date.now());
    }).immediate();
  }
}

function declareChannels(db: Db, declarations: readonly ChannelDeclaration[], now: number): void {
  const insert = db.prepare('INSERT INTO channels (name, kind, topic_id, ordering, created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING RETURNING id');
  const topicId = db.prepare('SELECT id FROM channels WHERE name = ? AND kind = ?');
  const backfill = db.prepare(`
    INSERT INTO deliveries (message_pk, target_id, lane, position, status, attempts, available_at, updated_at)
    SELECT pk, ?, CASE ? WHEN 'key' THEN COALESCE(key, '') ELSE '' END, sequence, 'ready', 0, ?, ?
    FROM messages WHERE channel_id = ? ORDER BY sequence`);
  const backfillLanes = db.prepare(`
    INSERT INTO lanes (target_id, lane, state, ready_at)
    SELECT DISTINCT target_id, lane, 'active', ? FROM deliveries WHERE target_id = ? AND available_at IS NOT NULL
    ON CONFLICT DO NOTHING`);
  db.transaction(() => {
    // Topics first so their subscriptions can refer to them.
    const ordered = [...declarations].sort((a, b) => Number(a.kind === 'subscription') - Number(b.kind === 'subscription'));
    for (const d of ordered) {
      const parent = d.kind === 'subscription' ? (topicId.get(d.topic, 'topic') as { id: number } | undefined)?.id : null;
      if (d.kind === 'subscription' && parent === undefined) throw new NotFoundError(`topic '${d.topic}' of subscription '${d.name}' is not declared`);
      const ordering = d.kind === 'queue' || d.kind === 'topic' ? 'none' : d.kind === 'fifo' ? 'key' : d.ordering ?? 'topic';
      const created = insert.get(d.name, d.kind, parent ?? null, ordering, now) as { id: number } | undefined;
      if (created && d.kind === 'subscription' && d.startFrom === 'beginning') {
        backfill.run(created.id, ordering, now, now, parent);
        backfillLanes.run(now, created.id);
      }
    }
  }).immediate();
}

/**
 * Applies a tick's settlements: each delivery is fenced by its epoch, its attempt recorded; then
 * each lane touched moves once (a batch of 100 events advances its lane once, not 100 times).
 */
function settleAll(sql: Statements, settlements: readonly Settlement[], now: number): SettleResult[] {
  const results: SettleResult[] = [];
  const lanes = new Map<string, { targetId: number; lane: string; decision: Settlement['decision']; indexes: number[] }>();
  const delivered = new Map<number, { n: number; last: number }>();
  settlements.forEach((s, i) => {
    const d = s.decision;
    const row = (
      d.kind === 'delivered'
        ? sql.markDelivered.get(s.result ?? null, now, s.deliveryId, s.epoch)
        : d.kind === 'deadletter'
          ? sql.markFinal.get('deadlettered', d.reason, now, s.deliveryId, s.epoch)
          : sql.markReady.get(d.kind === 'park' ? now : d.availableAt, d.reason, now, s.deliveryId, s.epoch)
    ) as { target_id: number; lane: string | null; position?: number; message_pk?: number } | undefined;
    if (!row) {
      results.push('fenced');
      return;
    }
    if (row.lane !== null && row.message_pk !== undefined) sql.advanceCursor.run(row.target_id, row.lane, row.message_pk);
    if (row.position !== undefined) {
      const count = delivered.get(row.target_id) ?? { n: 0, last: 0 };
      count.n++;
      count.last = Math.max(count.last, row.position);
      delivered.set(row.target_id, count);
    }
    const a = s.attempt;
    sql.insertAttempt.run(s.deliveryId, a.attempt, a.startedAt, a.durationMs, a.statusCode, a.error, a.response);
    results.push('ok');
    if (row.lane === null) return;
    const key = `${row.target_id}\u0000${row.lane}`;
    const entry = lanes.get(key) ?? { targetId: row.target_id, lane: row.lane, decision: d, indexes: [] };
    entry.decision = d;
    entry.indexes.push(i);
    lanes.set(key, entry);
  });
  for (const [targetId, count] of delivered) sql.countDelivered.run(count.n, count.last, targetId);
  for (const { targetId, lane, decision: d, indexes } of lanes.values()) {
    if (d.kind === 'delivered' || d.kind === 'deadletter') advanceLane(sql, targetId, lane, now);
    else if (d.kind === 'retry') sql.laneActive.run(d.availableAt, targetId, lane);
    else {
      const state = d.kind === 'park' ? 'parked' : 'stalled';
      const before = sql.laneState.get(targetId, lane) as { state: string } | undefined;
      sql.laneBlock.run(state, d.kind === 'park' ? null : d.availableAt, d.reason, now, targetId, lane);
      if (before?.state !== state) for (const i of indexes) results[i] = 'blocked';
    }
  }
  return results;
}

/** After the head of a lane left it: point the lane at its next head, or drop it when empty. */
function advanceLane(sql: Statements, targetId: number, lane: string, now: number): void {
  const head = sql.nextHead.get(targetId, lane) as { status: string; available_at: number } | undefined;
  if (!head) sql.deleteLane.run(targetId, lane);
  else if (head.status !== 'delivering') sql.laneActive.run(Math.max(now, head.available_at), targetId, lane);
}

type Statements = ReturnType<typeof prepareStatements>;

function prepareStatements(db: Db) {
  const messageColumns = 'm.pk, m.id, m.key, m.type, m.data, m.metadata, m.created_at, m.deliver_at, m.sequence';
  return {
    nextSequence: db.prepare('UPDATE channels SET last_sequence = last_sequence + 1 WHERE id = ? RETURNING last_sequence'),
    undoSequence: db.prepare('UPDATE channels SET last_sequence = last_sequence - 1 WHERE id = ?'),
    insertMessage: db.prepare(`INSERT INTO messages (channel_id, id, key, type, data, metadata, created_at, deliver_at, sequence)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id, channel_id) DO NOTHING RETURNING pk`),
    insertDelivery: db.prepare(`INSERT INTO deliveries (message_pk, target_id, lane, position, status, attempts, available_at, updated_at)
      VALUES (?, ?, ?, ?, 'ready', 0, ?, ?)`),
    insertLane: db.prepare(`INSERT INTO lanes (target_id, lane, state, ready_at) VALUES (?, ?, 'active', ?) ON CONFLICT DO NOTHING`),
    fanOut: db.prepare(`INSERT INTO deliveries (message_pk, target_id, lane, position, status, attempts, available_at, updated_at)
      SELECT ?, id, CASE ordering WHEN 'key' THEN ? ELSE '' END, ?, 'ready', 0, ?, ? FROM channels WHERE topic_id = ?`),
    fanOutLanes: db.prepare(`INSERT INTO lanes (target_id, lane, state, ready_at)
      SELECT id, CASE ordering WHEN 'key' THEN ? ELSE '' END, 'active', ? FROM channels WHERE topic_id = ?
      ON CONFLICT (target_id, lane) DO UPDATE SET ready_at = excluded.ready_at, filling = 0 WHERE filling = 1`),
    duplicateStatus: db.prepare(`SELECT d.status, d.attempts, d.available_at, m.sequence, l.state AS lane_state,
      (d.available_at IS NOT NULL AND d.lane IS NOT NULL AND d.position = (SELECT MIN(h.position) FROM deliveries h
        WHERE h.target_id = d.target_id AND h.lane = d.lane AND h.available_at IS NOT NULL)) AS is_head
      FROM messages m JOIN deliveries d ON d.message_pk = m.pk LEFT JOIN lanes l ON l.target_id = d.target_id AND l.lane = d.lane
      WHERE m.channel_id = ? AND m.id = ? ORDER BY d.id`),
    leaseReady: db.prepare(`UPDATE deliveries SET status = 'delivering', attempts = attempts + 1, epoch = epoch + 1, lease_owner = ?,
      available_at = ?, updated_at = ? WHERE id IN (SELECT id FROM deliveries WHERE target_id = ? AND lane IS NULL AND available_at <= ?
      ORDER BY available_at LIMIT ?) RETURNING id, message_pk, epoch, attempts`),
    messagesByPk: db.prepare(`SELECT ${messageColumns} FROM messages m WHERE m.pk IN (SELECT value FROM json_each(?))`),
    lease: db.prepare(`UPDATE deliveries SET status = 'delivering', attempts = attempts + 1, epoch = epoch + 1, lease_owner = ?,
      available_at = ?, updated_at = ? WHERE id = ? RETURNING epoch, attempts`),
    leaseMany: db.prepare(`UPDATE deliveries SET status = 'delivering', attempts = attempts + 1, epoch = epoch + 1, lease_owner = ?,
      available_at = ?, updated_at = ? WHERE id IN (SELECT value FROM json_each(?)) RETURNING id, epoch, attempts`),
    readyLanes: db.prepare(`SELECT lane FROM lanes WHERE target_id = ? AND ready_at <= ? AND (leased_until IS NULL OR leased_until <= ?)
      ORDER BY ready_at LIMIT ?`),
    laneHead: db.prepare(`SELECT d.id AS delivery_id, d.status, d.available_at, d.attempts, ${messageColumns} FROM deliveries d JOIN messages m ON m.pk = d.message_pk
      WHERE d.target_id = ? AND d.lane = ? AND d.available_at IS NOT NULL ORDER BY d.position LIMIT ?`),
    setLaneReady: db.prepare('UPDATE lanes SET ready_at = ? WHERE target_id = ? AND lane = ?'),
    waitForFill: db.prepare('UPDATE lanes SET ready_at = ?, filling = 1 WHERE target_id = ? AND lane = ?'),
    leaseLane: db.prepare('UPDATE lanes SET ready_at = ?, leased_until = ?, filling = 0 WHERE target_id = ? AND lane = ?'),
    unleaseLane: db.prepare('UPDATE lanes SET ready_at = ?, leased_until = NULL WHERE target_id = ? AND lane = ?'),
    deleteLane: db.prepare('DELETE FROM lanes WHERE target_id = ? AND lane = ?'),
    renew: db.prepare(`UPDATE deliveries SET available_at = ?, updated_at = ? WHERE id = ? AND epoch = ? AND status = 'delivering'
      RETURNING target_id, lane`),
    release: db.prepare(`UPDATE deliveries SET status = 'ready', attempts = attempts - 1, available_at = ?, lease_owner = NULL, updated_at = ?
      WHERE id = ? AND epoch = ? AND status = 'delivering' RETURNING target_id, lane`),
    markDelivered: db.prepare(`UPDATE deliveries SET status = 'delivered', available_at = NULL, lease_owner = NULL, result = ?, last_error = NULL,
      updated_at = ? WHERE id = ? AND epoch = ? AND status = 'delivering' RETURNING target_id, lane, position, message_pk`),
    laneCursor: db.prepare('SELECT delivered, last_id FROM lane_cursors WHERE target_id = ? AND lane = ?'),
    advanceCursor: db.prepare(`INSERT INTO lane_cursors (target_id, lane, delivered, last_id) SELECT ?, ?, 1, id FROM messages WHERE pk = ?
      ON CONFLICT (target_id, lane) DO UPDATE SET delivered = delivered + 1, last_id = excluded.last_id`),
    countDelivered: db.prepare('UPDATE channels SET delivered_count = delivered_count + ?, delivered_sequence = MAX(delivered_sequence, ?) WHERE id = ?'),
    markFinal: db.prepare(`UPDATE deliveries SET status = ?, available_at = NULL, lease_owner = NULL, last_error = ?, updated_at = ?
      WHERE id = ? AND epoch = ? AND status = 'delivering' RETURNING target_id, lane`),
    markReady: db.prepare(`UPDATE deliveries SET status = 'ready', available_at = ?, lease_owner = NULL, last_error = ?, updated_at = ?
      WHERE id = ? AND epoch = ? AND status = 'delivering' RETURNING target_id, lane`),
    insertAttempt: db.prepare(`INSERT INTO attempts (delivery_id, attempt, started_at, duration_ms, status_code, error, response)
      VALUES (?, ?, ?, ?, ?, ?, ?)`),
    nextHead: db.prepare(`SELECT status, available_at FROM deliveries WHERE target_id = ? AND lane = ? AND available_at IS NOT NULL
      ORDER BY position LIMIT 1`),
    laneActive: db.prepare(`UPDATE lanes SET state = 'active', reason = NULL, since = NULL, ready_at = ?, leased_until = NULL
      WHERE target_id = ? AND lane = ?`),
    laneState: db.prepare('SELECT state FROM lanes WHERE target_id = ? AND lane = ?'),
    laneBlock: db.prepare(`UPDATE lanes SET state = ?, ready_at = ?, leased_until = NULL, reason = ?, since = COALESCE(since, ?)
      WHERE target_id = ? AND lane = ?`),
    nextReady: db.prepare('SELECT MIN(available_at) AS at FROM deliveries WHERE target_id = ? AND lane IS NULL AND available_at IS NOT NULL'),
    nextLane: db.prepare('SELECT MIN(ready_at) AS at FROM lanes WHERE target_id = ? AND ready_at IS NOT NULL'),
  };
}
