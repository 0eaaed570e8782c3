import Database from 'better-sqlite3';
import type { Database as Db } from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { systemClock, type Clock } from '../../domain/clock.js';
import { StoreUnavailableError } from '../../domain/errors.js';
import type { NewMessage } from '../../domain/message.js';
import type { Claim, ClaimRequest, SendHandOff, SendLease, SendResult, Store } from '../port.js';
import { assertOutboxProducible, assertProducible } from '../producible.js';
import { createTickBatcher } from '../tick-batcher.js';
import { createChannelCache, type ChannelRow } from './channel-cache.js';
import { createSqliteDeferrals } from './deferrals.js';
import { claim as claimFrom, nextDueAt, release, renew } from './claims.js';
import { createTally } from './counters.js';
import { migrate } from './migrations.js';
import { createSqliteAdmin } from './sqlite-admin.js';
import { createSqliteExpiry } from './expiry.js';
import { createRateLimits } from './rate-limits.js';
import { createConcurrencySlots } from './concurrency-slots.js';
import { createSqliteRetention } from './retention.js';
import { prepareStatements, type Statements } from './statements.js';
import { createSqliteSchedules } from './sqlite-schedules.js';
import { createCheckpointer } from './checkpointer.js';
import { createWalSync } from './wal-sync.js';
import { wakeAll, type WakeListener } from '../wake.js';
import { createWriteBatch } from './write-batch.js';
import { declareChannels, insertMessages, type SendItem } from './writes.js';

export interface SqliteStoreOptions {
  /** Database file; its folder is created when missing. */
  path: string;
  /**
   * `fsync` (default): a send is acknowledged after its commit reached the disk, so it survives
   * power loss. `process`: after it reached the OS, so it survives a process crash only.
   */
  durability?: 'fsync' | 'process';
  clock?: Clock;
  /** WAL checkpoints in a worker thread once the log grows (checkpointer.ts). Default true. */
  backgroundCheckpoints?: boolean;
}

export interface SqliteStore extends Store {
  /**
   * Transactional outbox: stores messages using the application's own better-sqlite3
   * connection inside its open transaction, so they commit (or roll back) with its state.
   * The connection must open the same database file. Returns the results synchronously.
   */
  sendWithin(db: Db, channel: string, messages: readonly NewMessage[]): SendResult[];
}

/** Opens (creating if needed) a SQLite store in WAL mode. */
export function createSqliteStore(options: SqliteStoreOptions): SqliteStore {
  const clock = options.clock ?? systemClock;
  if (options.path !== ':memory:') mkdirSync(dirname(options.path), { recursive: true });
  // One connection; every commit is fast (synchronous NORMAL). Sends then wait for a shared WAL
  // flush (group commit); claims and settlements do not, as losing one at a power cut only
  // means a redelivery.
  const db = open(options.path);
  const walSync = options.durability === 'process' || options.path === ':memory:' ? null : createWalSync(options.path);
  const checkpointer = options.backgroundCheckpoints === false || options.path === ':memory:' ? null : createCheckpointer(db, options.path);
  // Statements are prepared against the schema, so the schema is brought up to date on open.
  migrate(db);
  const channels = createChannelCache(db);
  channels.reload();
  const sql = prepareStatements(db);
  const outboxStatements = new WeakMap<Db, Statements>();
  const statementsFor = (connection: Db): Statements => {
    let st = outboxStatements.get(connection);
    if (!st) outboxStatements.set(connection, (st = prepareStatements(connection)));
    return st;
  };

  const wakeListeners = new Set<WakeListener>();
  /** Pauses and seeks, heard at once: one process owns the file. */
  const holdListeners = new Set<WakeListener>();
  /** The targets of these channels: a queue or subscription itself, a topic's subscriptions. */
  const targetsOf = (list: Iterable<ChannelRow>): string[] => {
    const names = new Set<string>();
    for (const channel of list) {
      if (channel.kind !== 'topic') names.add(channel.name);
      else for (const sub of channels.all()) if (sub.topicId === channel.id) names.add(sub.name);
    }
    return [...names];
  };

  let handOff: SendHandOff | null = null;
  const sendBatcher = createTickBatcher<SendItem, SendResult>(async (items) => {
    // A queue's send may claim what this instance's dispatcher has free slots for (handOffSends):
    // then the claim and its look-ahead are the wake-up.
    const offers = new Map<ChannelRow, SendLease>();
    for (const { channel } of items) {
      const lease = channel.kind === 'queue' && !offers.has(channel) ? handOff?.offer(channel.name) : null;
      if (lease) offers.set(channel, lease);
    }
    const taken = new Map<SendLease, { claims: Claim[]; nextWakeAt?: number | null }>();
    try {
      const results = db.transaction(() => {
        const now = clock.now();
        const stored = insertMessages(sql, items, now);
        const tally = createTally(sql);
        for (const [channel, lease] of offers) {
          const claims = claimFrom(sql, channel, { target: channel.name, limit: lease.limit, owner: lease.owner, leaseMs: lease.leaseMs }, now, tally);
          taken.set(lease, claims.length < lease.limit ? { claims, nextWakeAt: nextWakeAt(channel.name) } : { claims });
        }
        tally.flush();
        return stored;
      }).immediate();
      const woken = items.filter((item, i) => !results[i]!.duplicate && !offers.has(item.channel)).map((item) => item.channel);
      if (wakeListeners.size > 0) wakeAll(wakeListeners, targetsOf(woken));
      await walSync?.sync();
      return results;
    } finally {
      // Durable first (walSync), then started; a failed send gives back its offers with nothing.
      for (const lease of offers.values()) {
        const got = taken.get(lease);
        if (got) lease.taken(got.claims, got.nextWakeAt);
        else lease.taken([]);
      }
    }
  });

  // Settlements and claims of one turn of the event loop share a transaction (write-batch.ts).
  const writes = createWriteBatch(db, sql, clock);

  function producible(name: string, messages: readonly NewMessage[], outbox = false) {
    const channel = channels.require(name);
    (outbox ? assertOutboxProducible : assertProducible)(channel, messages);
    return channel;
  }

  async function claim(request: ClaimRequest): Promise<Claim[]> {
    const target = channels.require(request.target);
    return (await writes.pushOrRun({ settlements: [], claim: { target, request } })).claims;
  }
  function nextWakeAt(targetName: string): number | null {
    const target = channels.require(targetName);
    return target.ordering === 'none' ? nextDueAt(sql, target.id, clock.now()) : (sql.nextLane.get(target.id)?.at ?? null);
  }

  const admin = createSqliteAdmin(db, channels, clock);
  const retention = createSqliteRetention(db, channels, clock);
  return withStoreErrors<SqliteStore>({
    clock,
    ...admin,
    ...createSqliteExpiry(db, channels, clock),
    ...retention,
    async setPaused(channel, paused) {
      await admin.setPaused(channel, paused);
      if (paused) wakeAll(holdListeners, targetsOf([channels.require(channel)]));
    },
    async seek(target, point) {
      const result = await retention.seek(target, point);
      wakeAll(holdListeners, [target]);
      return result;
    },
    ...createRateLimits(db, clock),
    ...createConcurrencySlots(db, clock),
    ...createSqliteSchedules(db),
    ...createSqliteDeferrals(db, clock),
    async migrate() {
      migrate(db);
      channels.reload();
    },
    async declare(declarations) {
      declareChannels(db, declarations, clock.now());
      channels.reload();
    },
    async send(channelName, messages) {
      const channel = producible(channelName, messages);
      return sendBatcher.push(messages.map((message) => ({ channel, message })));
    },
    onWake(listener) {
      wakeListeners.add(listener);
      return () => wakeListeners.delete(listener);
    },
    handOffSends(offer) {
      handOff = offer;
      return () => {
        if (handOff === offer) handOff = null;
      };
    },
    onHold(listener) {
      holdListeners.add(listener);
      return () => holdListeners.delete(listener);
    },
    sendWithin(connection, channelName, messages) {
      const channel = producible(channelName, messages, true);
      return insertMessages(statementsFor(connection), messages.map((message) => ({ channel, message })), clock.now());
    },
    claim,
    async renew(leases, leaseMs) {
      return leases.length === 0 ? [] : db.transaction(() => renew(sql, leases, leaseMs, clock.now())).immediate();
    },
    settle(settlements) {
      return settlements.length === 0 ? Promise.resolve([]) : writes.push({ settlements, claim: null }).then((r) => r.results);
    },
    async settleAndClaim(settlements, next) {
      const target = channels.require(next.target);
      // A step carrying several answers is already a turn's answers gathered by the dispatcher: it
      // runs now (waiting for the next turn cost a drain a pass of the event loop per step). A
      // lone answer (a subscription's one call in flight) waits for the turn, so the steps of
      // subscriptions answered together share a commit.
      const op = { settlements, claim: { target, request: next } };
      const step = await (settlements.length > 1 ? writes.pushOrRun(op) : writes.push(op));
      return next.lookAhead && step.claims.length < next.limit ? { ...step, nextWakeAt: nextWakeAt(next.target) } : step;
    },
    async release(leases) {
      if (leases.length > 0) db.transaction(() => release(sql, leases, clock.now())).immediate();
    },
    async claimOrLookAhead(request) {
      const claims = await claim(request);
      return claims.length < request.limit ? { claims, nextWakeAt: nextWakeAt(request.target) } : { claims };
    },
    async nextWakeAt(targetName) {
      return nextWakeAt(targetName);
    },
    async ping() {
      db.prepare('SELECT 1').get();
    },
    async probeWrite() {
      db.prepare('UPDATE channels SET paused = paused WHERE id = (SELECT MIN(id) FROM channels)').run();
    },
    async close() {
      await checkpointer?.close();
      await walSync?.close();
      db.close();
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

function open(path: string): Db {
  const db = new Database(path);
  // A new database gets 1 KB pages (SQLite's default is 4 KB; an existing file keeps its own).
  // Every commit writes each page it changed, whole, to the WAL (and a checkpoint writes it
  // again), and a delivery changes a few small rows spread over the table and its indexes:
  // written per message, 90 → 26 KB at one message at a time (a send, a claim and a
  // settlement, each its own commit) and 5.7 → 2.7 KB in a backlog, with no change in CPU
  // time. A large message spans more overflow pages (256 for 256 KiB instead of 64).
  db.pragma('page_size = 1024');
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 2000');
  db.pragma('cache_size = -32000');
  return db;
}
