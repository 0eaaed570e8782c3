import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { systemClock, type Clock } from '../../domain/clock.js';
import { createDatabaseClock } from './database-clock.js';
import { NotFoundError, ValidationError } from '../../domain/errors.js';
import type { SeekPoint } from '../../domain/seek.js';
import { EXPIRED_REASON, type NewMessage } from '../../domain/message.js';
import type { ChannelDeclaration, Claim, ClaimOrLookAhead, ClaimRequest, SendHandOff, SendResult, Settlement, SettleResult, Store } from '../port.js';
import { assertOutboxProducible, assertProducible } from '../producible.js';
import { createTickBatcher, type TickBatcher } from '../tick-batcher.js';
import { adminStatements } from './admin-statements.js';
import { createChannelCache, type ChannelRow } from './channel-cache.js';
import { execute, guard, openPool, retrying, run, SCHEMA_PATTERN, transaction } from './connection.js';
import { holdsLanes, settleHolding, settleHoldingStatement } from './lane-holds.js';
import { claimOrdered, claimUnordered, movesLanesOn, releaseLeases, renewLeases, settleAndClaimLanes, settleBatch, settleFast, settleFreeAndClaim } from './leases.js';
import { migrate } from './migrations.js';
import { createRateLimits } from './rate-limits.js';
import { createConcurrencySlots } from './concurrency-slots.js';
import { createWakeListener, HOLD_PREFIX, type NoticeKind, type WakeHandler } from './notify.js';
import { wakeAll } from '../wake.js';
import { createPostgresAdmin } from './postgres-admin.js';
import { createPostgresDeferrals } from './deferrals.js';
import { createPostgresSchedules } from './postgres-schedules.js';
import { createPostgresRetention } from './retention.js';
import { hotStatements, NOTIFY, toLike, type HotStatements } from './statements.js';
import { insertMessages, type WriteOptions } from './writes.js';

export interface PostgresStoreOptions {
  /** Connection string (`postgres://user:pass@host:5432/db`). Either this or `pool`. */
  url?: string;
  /** Use the application's pool instead of opening one; `close()` then leaves it open. */
  pool?: pg.Pool;
  /** Schema holding Offload's tables: lower-case letters, digits and `_`. Default `offload`. */
  schema?: string;
  /** The process clock. Default the system clock. */
  clock?: Clock;
  /**
   * Where stored times (leases, retry times, delays) come from: `database` (the server's clock,
   * through an offset to the process clock measured every minute, so instances with skewed host
   * clocks agree) or `clock` (the process clock as given, e.g. a fake clock in tests). Default
   * `database`, or `clock` when a clock is given.
   */
  timeSource?: 'database' | 'clock';
  /** Connections in the store's own pool (ignored with `pool`). Default 10. */
  poolSize?: number;
  /** Give up opening a connection after this long (ignored with `pool`). Default 10 s. */
  connectionTimeoutMs?: number;
  /**
   * NOTIFY `offload_<schema>` after each commit that adds messages, and LISTEN for `onWake`
   * (work sent by other instances and through `sendWithin`). Default true. This store's own
   * `send` wakes its `onWake` listeners at commit either way.
   */
  notify?: boolean;
  /** Run `migrate()` before the first operation. Default true. */
  autoMigrate?: boolean;
}

export type WakeListenerFn = (targets: string[]) => void;

export interface PostgresStore extends Store {
  /** The schema in use. */
  readonly schema: string;
  /**
   * Transactional outbox: stores messages with the application's own client inside its open
   * transaction (BEGIN already issued; this issues no BEGIN or COMMIT), so they commit or roll
   * back with the application's state. Publishing to a topic takes the topic's row lock until
   * that transaction ends, which is what makes sequences follow commit order: call it as late
   * in the transaction as possible and commit promptly. Wake-ups are sent at commit.
   */
  sendWithin(client: pg.PoolClient | pg.Client, channel: string, messages: readonly NewMessage[]): Promise<SendResult[]>;
}

/** Opens a PostgreSQL store. No connection is made until the first call. */
export function createPostgresStore(options: PostgresStoreOptions): PostgresStore {
  const schema = options.schema ?? 'offload';
  if (!SCHEMA_PATTERN.test(schema)) throw new ValidationError(`schema '${schema}' must be lower-case letters, digits and '_' (at most 41)`);
  const { pool, owned } = openPool({ url: options.url, pool: options.pool, poolSize: options.poolSize ?? 10, connectionTimeoutMs: options.connectionTimeoutMs ?? 10_000 });
  const databaseClock = (options.timeSource ?? (options.clock ? 'clock' : 'database')) === 'database' ? createDatabaseClock(pool, options.clock ?? systemClock) : null;
  const clock: Clock = databaseClock ?? options.clock ?? systemClock;
  const notify = options.notify ?? true;
  const notifyChannel = `offload_${schema}`;
  const sql = hotStatements(schema);
  const settleHoldingSql = settleHoldingStatement(schema);
  const channels = createChannelCache(pool, sql);

  let ready: Promise<void> | null = null;
  let closed = false;
  const ensureReady = (): Promise<void> => {
    ready ??= (options.autoMigrate === false ? channels.reload() : migrateNow()).then(() => databaseClock?.sync()).catch((error: unknown) => {
      ready = null;
      throw error;
    });
    return ready;
  };
  async function migrateNow(): Promise<void> {
    const client = await pool.connect();
    try {
      await migrate(client, schema);
      client.release();
    } catch (error) {
      client.release(error as Error);
      throw error;
    }
    await channels.reload();
  }

  /*
   * A send through this store wakes its own listeners as soon as it has committed. Its NOTIFY,
   * for the other instances, names this store as its origin, and the LISTEN connection skips
   * it: each send wakes a target once, not a second time when its notification comes back.
   */
  const origin = `@${randomUUID()}`;
  const localWake = new Set<WakeHandler>();
  /** The targets with new work when these channels were written: a queue itself, a topic's subscriptions. */
  const targetsOfChannels = (list: readonly ChannelRow[]): string[] =>
    [...new Set(list.flatMap((c) => (c.kind === 'topic' ? channels.subscriptionsOf(c.id).map((s) => s.name) : [c.name])))];
  function wakeLocally(channel: ChannelRow, results: readonly SendResult[]): void {
    if (localWake.size === 0 || results.every((r) => r.duplicate)) return;
    wakeAll(localWake, targetsOfChannels([channel]));
  }

  const listener = createWakeListener({
    channel: notifyChannel,
    newClient: () =>
      options.url
        ? new pg.Client({ connectionString: options.url, keepAlive: true, application_name: 'offload-listen' })
        : new pg.Client({ ...pool.options, keepAlive: true }),
    targetsOf: async (payload) => {
      const words = payload.split(' ').filter(Boolean);
      // Our own send: its targets were woken at commit.
      if (words.includes(origin)) return [];
      const names = payload === '*' ? null : words.filter((w) => !w.startsWith('@'));
      if (names === null || names.some((n) => !channels.find(n))) await channels.reload().catch(() => {});
      if (names === null) return channels.all().filter((c) => c.kind !== 'topic').map((c) => c.name);
      return targetsOfChannels(names.flatMap((n) => channels.find(n) ?? []));
    },
  });

  const wake = notify ? notifyChannel : null;

  /*
   * A pause or a seek that committed: this store's hold listeners hear it at once, the other
   * instances' through a NOTIFY marked with this store's origin (skipped by its own LISTEN).
   * Best effort, as wake-ups are: a window that misses it ends by itself.
   */
  const localHold = new Set<WakeHandler>();
  /** A wake-up or hold listener: this store's own at once, other instances' through LISTEN. Returns the unsubscribe. */
  function hear(handler: WakeHandler, local: Set<WakeHandler>, kind: NoticeKind): () => void {
    local.add(handler);
    const unlisten = notify ? listener.subscribe(handler, kind) : () => {};
    return () => {
      local.delete(handler);
      unlisten();
    };
  }
  async function holdEverywhere(name: string): Promise<void> {
    const row = await channels.require(name);
    wakeAll(localHold, targetsOfChannels([row]));
    if (wake !== null) await run(pool, NOTIFY, [wake, `${HOLD_PREFIX}${row.name} ${origin}`], true).catch(() => {});
  }
  // Group commit: the sends of one tick to one channel are one statement, committed durably
  // (PostgreSQL shares the WAL flush of commits that come together). Each channel commits on its
  // own: a topic held by an application's open outbox transaction delays its own publishers,
  // never the sends to other channels, nor fails them with its own error. A send waits for a
  // batch still running that may hold what it would wait for (its topic, its fifo key, its id):
  // sends that meet a lock an application's open transaction holds wait on one connection between
  // them, not on a new one every tick, which would take the whole pool while that stays open.
  const sendBatchers = new Map<number, TickBatcher<NewMessage, SendResult>>();
  let handOff: SendHandOff | null = null;
  const sendBatcherOf = (channel: ChannelRow): TickBatcher<NewMessage, SendResult> => {
    let batcher = sendBatchers.get(channel.id);
    if (!batcher) {
      batcher = createTickBatcher<NewMessage, SendResult>(async (messages) => {
        // A queue's send may claim what this instance's dispatcher has free slots for
        // (handOffSends): then the claim and its look-ahead are the wake-up.
        const lease = channel.kind === 'queue' ? handOff?.offer(channel.name) ?? null : null;
        const claim: WriteOptions['claim'] = lease ? { limit: lease.limit, owner: lease.owner, leaseUntil: 0 } : undefined;
        try {
          const results = await retrying(() => {
            const now = clock.now();
            if (claim) claim.leaseUntil = now + lease!.leaseMs;
            return insertMessages(pool, sql, channel, messages, { now, prepared: true, wake, origin, claim });
          });
          if (!claim?.claimed) wakeLocally(channel, results);
          return results;
        } finally {
          const claimed = claim?.claimed;
          if (claimed) lease!.taken(claimed.claims, claimed.nextWakeAt);
          else lease?.taken([]);
        }
      }, { keysOf: lockedBy(channel) });
      sendBatchers.set(channel.id, batcher);
    }
    return batcher;
  };
  /** What a send to this channel may wait for: the topic's row, the fifo key's lane, the id's slot in the unique index. */
  const lockedBy = (channel: ChannelRow): ((m: NewMessage) => string) =>
    channel.kind === 'topic' ? () => '' : channel.kind === 'fifo' ? (m) => m.key ?? '' : (m) => m.id;
  /*
   * Deliveries this instance leased from lanes: their settlements go straight to the locking
   * path, saving the lane-free call a round trip that would only report them laned. A hint:
   * an id missing here (claimed before a restart, or dropped at the cap) is found laned by
   * settle_free_and_claim instead.
   */
  const lanedLeases = new Set<number>();
  const rememberLaned = (claims: readonly Claim[]): void => {
    if (lanedLeases.size > 100_000) lanedLeases.clear();
    for (const claim of claims) for (const d of claim.deliveries) lanedLeases.add(d.deliveryId);
  };
  /** A step's claim on its own: none when it frees no slot (stopping, drained, held back), with the look-ahead when asked. */
  const claimUnlessNone = async (next: ClaimRequest): Promise<ClaimOrLookAhead> =>
    next.limit <= 0 ? { claims: [] } : next.lookAhead ? store.claimOrLookAhead(next) : { claims: await store.claim(next) };
  /** Outcomes of deliveries that have a lane, in as few round trips as they allow. */
  const settleLaned = async (laned: readonly Settlement[], now: number): Promise<Array<SettleResult | Promise<SettleResult>>> =>
    movesLanesOn(laned)
      ? (await settleAndClaimLanes(pool, sql, laned, null, now)).results
      : holdsLanes(laned)
        ? settleHolding(pool, settleHoldingSql, laned, now)
        : transaction(pool, 'relaxed', (client) => settleBatch(client, sql, laned, now));
  const settleBatcher = createTickBatcher<Settlement, SettleResult>((items) => {
    const now = clock.now();
    const known = items.map((s) => lanedLeases.delete(s.deliveryId));
    return settleFast(pool, sql, { settlements: items, knownLaned: known, now, locking: (laned) => settleLaned(laned, now) });
  });

  async function producible(name: string, messages: readonly NewMessage[], outbox = false): Promise<ChannelRow> {
    await ensureReady();
    const channel = await channels.require(name);
    (outbox ? assertOutboxProducible : assertProducible)(channel, messages);
    return channel;
  }

  const admin = createPostgresAdmin(pool, adminStatements(schema), channels, clock);
  const schedules = createPostgresSchedules(pool, schema);
  const retention = createPostgresRetention(pool, schema, channels, clock, notify ? notifyChannel : null);
  const ensured = <A extends unknown[], R>(fn: (...args: A) => Promise<R>) => (...args: A): Promise<R> =>
    guard(async () => {
      await ensureReady();
      return fn(...args);
    });

  const store: PostgresStore = {
    schema,
    clock,
    getMessage: ensured(admin.getMessage),
    listMessages: ensured(admin.listMessages),
    stats: ensured(admin.stats),
    listDeadLetters: ensured(admin.listDeadLetters),
    redrive: ensured(admin.redrive),
    purgeDeadLetters: ensured(admin.purgeDeadLetters),
    setPaused: ensured(async (channel: string, paused: boolean) => {
      await admin.setPaused(channel, paused);
      if (paused) await holdEverywhere(channel);
    }),
    listBlockedLanes: ensured(admin.listBlockedLanes),
    getLane: ensured(admin.getLane),
    retryLane: ensured(admin.retryLane),
    skipLaneHead: ensured(admin.skipLaneHead),
    listSkipped: ensured(admin.listSkipped),
    redeliverSkipped: ensured(admin.redeliverSkipped),
    sweep: ensured(retention.sweep),
    seek: ensured(async (target: string, point: SeekPoint) => {
      const result = await retention.seek(target, point);
      await holdEverywhere(target);
      return result;
    }),
    expire: (limit) =>
      guard(async () => {
        await ensureReady();
        const rows = await run<{ target: string; message_id: string }>(pool, sql.expire, [clock.now(), limit, EXPIRED_REASON], true);
        return rows.map((r) => ({ target: r.target, messageId: r.message_id }));
      }),
    hurryRetries: ensured(admin.hurryRetries),
    listLive: ensured(admin.listLive),
    listBreakers: ensured(admin.listBreakers),
    saveBreaker: ensured(admin.saveBreaker),
    ...createRateLimits(pool, schema, ensureReady),
    ...createConcurrencySlots(pool, schema, clock, ensureReady),
    listSchedules: ensured(schedules.listSchedules),
    advanceSchedule: ensured(schedules.advanceSchedule),
    setSchedulePaused: ensured(schedules.setSchedulePaused),
    ...createPostgresDeferrals(pool, schema, clock, ensureReady),

    migrate: () =>
      guard(async () => {
        await migrateNow();
        await databaseClock?.sync();
        ready ??= Promise.resolve();
      }),
    declare: (declarations) =>
      guard(async () => {
        await ensureReady();
        await transaction(pool, 'durable', (client) => declareChannels(client, sql, declarations, clock.now()));
        await channels.reload();
      }),
    send: (channelName, messages) =>
      guard(async () => {
        const channel = await producible(channelName, messages);
        return messages.length === 0 ? [] : sendBatcherOf(channel).push(messages);
      }),
    sendWithin: (client, channelName, messages) =>
      guard(async () => {
        const channel = await producible(channelName, messages, true);
        if (messages.length === 0) return [];
        await client.query('SAVEPOINT offload_send_within').catch((error: { code?: string }) => {
          throw error.code === '25P01' ? new ValidationError('sendWithin needs a client inside an open transaction (BEGIN first)') : error;
        });
        try {
          const results = await insertMessages(client, sql, channel, messages, { now: clock.now(), prepared: false, wake, origin: null });
          await client.query('RELEASE SAVEPOINT offload_send_within');
          return results;
        } catch (error) {
          // Leave the application's transaction usable; it decides whether to roll back.
          await client.query('ROLLBACK TO SAVEPOINT offload_send_within').catch(() => {});
          throw error;
        }
      }),
    claim: (request) =>
      guard(async () => {
        await ensureReady();
        const target = await channels.require(request.target);
        const now = clock.now();
        if (target.ordering === 'none') return (await claimUnordered(pool, sql, target, request, now)).claims;
        const claims = await claimOrdered(pool, sql, target, request, now);
        rememberLaned(claims);
        return claims;
      }),
    claimOrLookAhead: async (request) => {
      const target = await guard(async () => {
        await ensureReady();
        return channels.require(request.target);
      });
      if (target.ordering === 'none' && request.limit > 0) return guard(() => claimUnordered(pool, sql, target, request, clock.now(), true));
      const claims = await store.claim(request);
      return claims.length < request.limit ? { claims, nextWakeAt: await store.nextWakeAt(request.target) } : { claims };
    },
    renew: async (leases, leaseMs) => {
      if (leases.length === 0) return [];
      await guard(ensureReady);
      return retrying(() => renewLeases(pool, sql, leases, leaseMs, clock.now()));
    },
    settle: async (settlements) => {
      if (settlements.length === 0) return [];
      await guard(ensureReady);
      return settleBatcher.push(settlements);
    },
    // An answer and its next claim are one round trip: settle_free_and_claim for an unordered
    // target, settle_and_claim for an ordered one. Other outcomes of ordered targets take two steps.
    settleAndClaim: async (settlements, next) => {
      await guard(ensureReady);
      const target = await guard(() => channels.require(next.target));
      if (target.ordering === 'none' && settlements.length > 0) {
        const now = clock.now();
        const known = settlements.map((s) => lanedLeases.delete(s.deliveryId));
        const batch = { settlements, knownLaned: known, now, locking: (laned: readonly Settlement[]) => settleLaned(laned, now) };
        const step = await guard(() => settleFreeAndClaim(pool, sql, batch, { target, request: next }));
        if (step.claims === null) return { results: step.results, ...(await claimUnlessNone(next)) };
        return { results: step.results, claims: step.claims, ...(step.nextWakeAt !== undefined ? { nextWakeAt: step.nextWakeAt } : {}) };
      }
      if (target.ordering === 'none' || settlements.length === 0 || !movesLanesOn(settlements)) {
        const results = await store.settle(settlements);
        return { results, ...(await claimUnlessNone(next)) };
      }
      for (const s of settlements) lanedLeases.delete(s.deliveryId);
      const step = await guard(() => settleAndClaimLanes(pool, sql, settlements, { target, request: next }, clock.now()));
      rememberLaned(step.claims);
      // Lanes have no look-ahead of their own in the step: asked for, it is one more round trip.
      return next.lookAhead && step.claims.length < next.limit ? { ...step, nextWakeAt: await store.nextWakeAt(next.target) } : step;
    },
    release: async (leases) => {
      if (leases.length === 0) return;
      for (const lease of leases) lanedLeases.delete(lease.deliveryId);
      await guard(ensureReady);
      await transaction(pool, 'relaxed', (client) => releaseLeases(client, sql, leases, clock.now()));
    },
    nextWakeAt: (targetName) =>
      guard(async () => {
        await ensureReady();
        const target = await channels.require(targetName);
        const [row] = await run<{ at: number | null }>(pool, sql.nextWakeAt, [target.id, target.ordering !== 'none', clock.now()], true);
        return row?.at ?? null;
      }),
    ping: () =>
      guard(async () => {
        await run(pool, sql.ping, [], true);
      }),
    probeWrite: () =>
      guard(async () => {
        await execute(pool, sql.probeWrite, [], true);
      }),
    onHold: (handler) => hear(handler, localHold, 'hold'),
    onWake: (handler) => hear(handler, localWake, 'wake'),
    handOffSends: (offer) => {
      handOff = offer;
      return () => {
        if (handOff === offer) handOff = null;
      };
    },
    close: async () => {
      if (closed) return;
      closed = true;
      databaseClock?.stop();
      await listener.close();
      if (owned) await pool.end();
    },
  };
  return store;
}

/**
 * Topics and queues first, then subscriptions. The topics of subscriptions that are new or whose
 * filter changed are locked as a publisher locks them, so a backfill sees every committed message
 * and a concurrent publish fans out to the new subscription (lanes.ts), and a changed filter
 * applies exactly to the publishes that take the topic lock after this transaction. Channels
 * stored as declared are not written (not even by an insert that finds them): a publisher holds
 * its topic's row until it commits, so an instance starting while an application's outbox
 * transaction holds a topic open would wait for it.
 */
async function declareChannels(client: pg.PoolClient, sql: HotStatements, declarations: readonly ChannelDeclaration[], now: number): Promise<void> {
  const ordering = (d: ChannelDeclaration) => (d.kind === 'queue' || d.kind === 'topic' ? 'none' : d.kind === 'fifo' ? 'key' : (d.ordering ?? 'topic'));
  const filterText = (d: ChannelDeclaration): string | null => (d.filter ? JSON.stringify(d.filter) : null);
  const stored = new Map((await run<{ name: string; filter: string | null }>(client, sql.declaredChannels, [declarations.map((d) => d.name)], true)).map((r) => [r.name, r.filter]));
  for (const d of declarations) {
    if (d.kind !== 'subscription' && !stored.has(d.name)) await run(client, sql.insertChannel, [d.name, d.kind, null, ordering(d), now], true);
    if (d.kind === 'queue') await run(client, sql.setTtl, [d.name, d.ttlMs ?? null], true);
  }
  const subscriptions = declarations.filter((d) => d.kind === 'subscription' && (!stored.has(d.name) || stored.get(d.name) !== filterText(d)));
  if (subscriptions.length === 0) return;
  const topics = new Map(
    (await run<{ id: number; name: string }>(client, sql.lockTopics, [[...new Set(subscriptions.map((d) => d.topic ?? ''))]], true)).map((t) => [t.name, t.id]),
  );
  for (const d of subscriptions) {
    const parent = topics.get(d.topic ?? '');
    if (parent === undefined) throw new NotFoundError(`topic '${d.topic}' of subscription '${d.name}' is not declared`);
    const [created] = await run<{ id: number }>(client, sql.insertChannel, [d.name, d.kind, parent, ordering(d), now], true);
    // The filter is the declared one, also for an existing subscription: later publishes apply it.
    const id = created?.id ?? (await run<{ id: number }>(client, sql.subscriptionId, [d.name], true))[0]!.id;
    const filter = d.filter ?? null;
    await run(client, sql.setFilter, [id, filterText(d), filter?.types.map(toLike) ?? null, filter?.keys?.map(toLike) ?? null], true);
    if (created && d.startFrom === 'beginning') {
      await run(client, sql.backfill, [created.id, parent, now], true);
      await run(client, sql.backfillLanes, [now, created.id], true);
    }
  }
}
