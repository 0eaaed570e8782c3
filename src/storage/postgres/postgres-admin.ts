import { parseRowCursor } from '../row-cursor.js';
import type pg from 'pg';
import type { Clock } from '../../domain/clock.js';
import { ConflictError, ValidationError } from '../../domain/errors.js';
import { laneActionRefusal, parseLaneState } from '../../domain/delivery-state.js';
import type { AttemptRecord } from '../../domain/message.js';
import type { DeliveryView, LaneView, LiveDelivery, Page, PageRequest, SearchPageRequest, StoreAdmin, MessageSummary } from '../port.js';
import { ALL_CHUNK, deliveryBytes, inChunks, lanesWithin, pageWithin, rowToAttempt, rowToDelivery, rowToLive, rowToTargetStats, type AttemptRow, type DeliveryRow, type LiveRow, rowToMessage, type MessageRow, type TargetStatsRow } from '../rows.js';
import { resolveFilter, SEARCH_EXAMINES, searchConditions, searchWindow, windowNext, type MessageFilter } from '../message-search.js';
import type { AdminStatements } from './admin-statements.js';
import type { Statement } from './statements.js';
import type { ChannelCache, ChannelRow } from './channel-cache.js';
import { execute, guard, run, transaction } from './connection.js';

export type Admin = StoreAdmin;


type LaneRow = { lane: string; state: LaneView['state']; reason: string | null; since: number | null };

/** Operator and inspection methods, mirroring the SQLite adapter; lane changes follow lanes.ts. */
export function createPostgresAdmin(pool: pg.Pool, sql: AdminStatements, channels: ChannelCache, clock: Clock): Admin {
  const now = () => clock.now();

  async function views(db: pg.Pool | pg.PoolClient, rows: DeliveryRow[]): Promise<DeliveryView[]> {
    if (rows.length === 0) return [];
    const attempts = await run<AttemptRow & { delivery_id: number }>(db, sql.attempts, [rows.map((r) => r.delivery_id)], true);
    const history = new Map<number, AttemptRecord[]>();
    for (const a of attempts) history.set(a.delivery_id, [...(history.get(a.delivery_id) ?? []), rowToAttempt(a)]);
    const t = now();
    return rows.map((row) => rowToDelivery(row, history.get(row.delivery_id) ?? [], t));
  }

  async function ordered(name: string): Promise<ChannelRow> {
    const target = await channels.require(name);
    if (target.ordering === 'none') throw new ValidationError(`'${name}' is not ordered: it has no lanes`);
    return target;
  }

  async function finalPage(target: string, status: string, page: PageRequest): Promise<Page<DeliveryView>> {
    const row = await channels.require(target);
    const after = parseRowCursor(page.cursor) ?? 0;
    const rows = await run<DeliveryRow>(pool, sql.finalPage, [row.id, status, after, page.limit + 1], true);
    const kept = pageWithin(rows, page.limit, deliveryBytes, (r) => String(r.delivery_id));
    return { items: await views(pool, kept.rows), next: kept.next };
  }

  /** Every delivery of a final list, chunk by chunk (inChunks), each chunk its own transaction, as the SQLite store does. */
  async function eachChunk(target: ChannelRow, status: 'deadlettered' | 'skipped', apply: (deliveries: number[]) => Promise<number>): Promise<number> {
    const [last] = await run<{ id: string }>(pool, sql.lastDelivery, [], true);
    const upTo = Number(last!.id);
    return inChunks(async (after) => (await run<{ id: string }>(pool, sql.finalChunk, [target.id, status, after, upTo, ALL_CHUNK], true)).map((r) => Number(r.id)), apply);
  }

  async function reopen(target: string, status: 'deadlettered' | 'skipped', ids?: readonly string[]): Promise<number> {
    const row = await channels.require(target);
    const reopenWith = (statement: Statement, selection: readonly string[] | number[]) =>
      transaction(pool, 'durable', async (client) => (await run<{ n: number }>(client, statement, [row.id, status, now(), selection], true))[0]!.n);
    return ids ? reopenWith(sql.reopenIds, ids) : eachChunk(row, status, (deliveries) => reopenWith(sql.reopenDeliveries, deliveries));
  }

  async function listMessages(filter: MessageFilter, page: SearchPageRequest): Promise<Page<MessageSummary>> {
    const channel = filter.channel === undefined ? undefined : await channels.require(filter.channel);
    const resolved = resolveFilter(filter, channel, page.cursor);
    const [bounds] = await run<{ min: string | null; max: string | null }>(pool, sql.pkBounds, [], true);
    const window = searchWindow({ min: bounds?.min == null ? null : Number(bounds.min), max: bounds?.max == null ? null : Number(bounds.max) }, resolved.beforePk, page.examine ?? SEARCH_EXAMINES);
    const values: unknown[] = [];
    const param = (value: unknown) => `$${values.push(value)}`;
    const where = searchConditions({ ...resolved, fromPk: window.fromPk }, now(), param, sql.table);
    const limit = param(page.limit + 1);
    const rows = await run<MessageRow & { channel_name: string }>(pool, sql.search(where, limit), values);
    const { rows: shown, next: within } = pageWithin(rows, page.limit, (r) => deliveryBytes({ ...r, result: null, attempts: 0 }), (r) => String(r.pk));
    const next = windowNext(within, window);
    const deliveries = shown.length === 0 ? [] : await run<DeliveryRow>(pool, sql.byMessagePks, [shown.map((r) => r.pk)], true);
    const t = now();
    const items = shown.map((row) => ({
      message: rowToMessage(row, { name: row.channel_name, kind: 'queue' }),
      deliveries: deliveries.filter((d) => d.pk === row.pk).map((d) => {
        const { message: _message, history: _history, ...rest } = rowToDelivery(d, [], t);
        return rest;
      }),
    }));
    return { items, next };
  }

  async function laneView(target: ChannelRow, lane: LaneRow): Promise<LaneView> {
    const [head] = await run<{ id: number }>(pool, sql.laneHead, [target.id, lane.lane], true);
    const headRows = head ? await run<DeliveryRow>(pool, sql.byDeliveryId, [head.id], true) : [];
    const [pending] = await run<{ n: number }>(pool, sql.lanePending, [target.id, lane.lane], true);
    const [headView] = await views(pool, headRows);
    return { target: target.name, lane: lane.lane, state: lane.state, reason: lane.reason, since: lane.since, pending: pending!.n, head: headView ?? null };
  }

  return {
    getMessage: (id, channel) =>
      guard(async () => {
        const channelId = channel === undefined ? null : (await channels.require(channel)).id;
        const rows = channelId === null
          ? await run<DeliveryRow>(pool, sql.byMessageId, [id], true)
          : await run<DeliveryRow>(pool, sql.byChannelAndId, [id, channelId], true);
        const all = await views(pool, rows);
        const byChannel = new Map<string, DeliveryView[]>();
        rows.forEach((row, i) => byChannel.set(row.channel_name, [...(byChannel.get(row.channel_name) ?? []), all[i]!]));
        const found = [...byChannel.values()].map((deliveries) => ({ message: deliveries[0]!.message, deliveries }));
        const undelivered = await run<MessageRow & { channel_name: string }>(pool, sql.undelivered, [id, channelId], true);
        return [...found, ...undelivered.map((row) => ({ message: rowToMessage(row, { name: row.channel_name, kind: 'topic' }), deliveries: [] }))];
      }),

    listMessages: (filter, page) => guard(() => listMessages(filter, page)),
    stats: () =>
      guard(async () => {
        const t = now();
        const rows = await run<TargetStatsRow>(pool, sql.stats, [], true);
        return rows.map((r) => rowToTargetStats(r, t));
      }),

    listDeadLetters: (target, page) => guard(() => finalPage(target, 'deadlettered', page)),
    redrive: (target, ids) => guard(() => reopen(target, 'deadlettered', ids)),
    purgeDeadLetters: (target, ids) =>
      guard(async () => {
        const row = await channels.require(target);
        const purge = async (statement: Statement, selection: readonly string[] | number[]) => (await run<{ n: number }>(pool, statement, [row.id, selection], true))[0]!.n;
        return ids ? purge(sql.purgeIds, ids) : eachChunk(row, 'deadlettered', (deliveries) => purge(sql.purgeDeliveries, deliveries));
      }),
    setPaused: (channel, paused) =>
      guard(async () => {
        await run(pool, sql.setPaused, [(await channels.require(channel)).id, paused], true);
      }),

    listBlockedLanes: (target, page) =>
      guard(async () => {
        const row = await ordered(target);
        const lanes = await run<LaneRow>(pool, sql.blockedLanes, [row.id, page.cursor ?? null, page.limit + 1], true);
        return lanesWithin(lanes, page.limit, (lane) => laneView(row, lane));
      }),
    getLane: (target, lane) =>
      guard(async () => {
        const row = await ordered(target);
        const [found] = await run<LaneRow>(pool, sql.lane, [row.id, lane], true);
        return found ? laneView(row, found) : null;
      }),
    retryLane: async (target, lane) => {
      const row = await guard(() => ordered(target));
      return transaction(pool, 'durable', async (client) => {
        const t = now();
        // The lane's lock: it waits for a claim or settlement holding the lane.
        const [found] = await run<{ state: string }>(client, sql.lockLane, [row.id, lane], true);
        if (!found) return false;
        const [head] = await run<{ id: number; status: string; attempts: number }>(client, sql.laneHead, [row.id, lane], true);
        const refusal = laneActionRefusal('retry', lane, parseLaneState(found.state)!, head);
        if (refusal) throw new ConflictError(refusal);
        await execute(client, sql.retryLane, [row.id, lane, t], true);
        if (head) await run(client, sql.makeReady, [head.id, t], true);
        return true;
      });
    },
    skipLaneHead: async (target, lane) => {
      const row = await guard(() => ordered(target));
      const skipped = await transaction(pool, 'durable', async (client) => {
        const t = now();
        const [locked] = await run<{ state: string }>(client, sql.lockLane, [row.id, lane], true);
        const [head] = await run<{ id: number; status: string; attempts: number }>(client, sql.laneHead, [row.id, lane], true);
        if (!head) return null;
        const refusal = laneActionRefusal('skip', lane, parseLaneState(locked?.state ?? 'active')!, head);
        if (refusal) throw new ConflictError(refusal);
        await run(client, sql.skip, [head.id, t], true);
        const [next] = await run<{ available_at: number }>(client, sql.laneHead, [row.id, lane], true);
        if (next) await run(client, sql.retryLane, [row.id, lane, Math.max(t, next.available_at)], true);
        else await run(client, sql.deleteLane, [row.id, lane], true);
        return head.id;
      });
      if (skipped === null) return null;
      return guard(async () => (await views(pool, await run<DeliveryRow>(pool, sql.byDeliveryId, [skipped], true)))[0]!);
    },
    listSkipped: (target, page) => guard(() => finalPage(target, 'skipped', page)),
    redeliverSkipped: (target, ids) => guard(() => reopen(target, 'skipped', ids)),

    hurryRetries: async (targets) => {
      const rows = await guard(() => Promise.all(targets.map((name) => channels.require(name))));
      const ordered = rows.filter((r) => r.ordering !== 'none').map((r) => r.id);
      const unordered = rows.filter((r) => r.ordering === 'none').map((r) => r.id);
      return transaction(pool, 'relaxed', async (client) => {
        const t = now();
        let hurried = 0;
        if (ordered.length > 0) {
          const lanes = await run<{ target_id: number; lane: string }>(client, sql.lockWaitingLanes, [ordered, t], true);
          if (lanes.length > 0) {
            const [moved] = await run<{ n: number }>(client, sql.hurryHeads, [lanes.map((l) => l.target_id), lanes.map((l) => l.lane), t], true);
            hurried += moved!.n;
          }
        }
        if (unordered.length > 0) hurried += await execute(client, sql.hurryUnordered, [unordered, t], true);
        return hurried;
      });
    },
    listLive: (targets, limit) =>
      guard(async () => {
        const rows = await Promise.all(targets.map((name) => channels.require(name)));
        const t = now();
        const live: LiveDelivery[] = [];
        for (const row of rows) {
          if (live.length >= limit) break;
          for (const r of await run<LiveRow>(pool, sql.liveList, [row.id, row.ordering !== 'none', limit - live.length], true)) live.push(rowToLive(r, t));
        }
        return live;
      }),

    listBreakers: () =>
      guard(async () => {
        const rows = await run<{ origin: string; state: 'open' | 'closed'; open_until: number | null; reason: string | null; updated_at: number }>(
          pool, sql.listBreakers, [], true,
        );
        return rows.map((r) => ({ origin: r.origin, state: r.state, openUntil: r.open_until, reason: r.reason, updatedAt: r.updated_at }));
      }),
    saveBreaker: (b) =>
      guard(async () => {
        await run(pool, sql.saveBreaker, [b.origin, b.state, b.openUntil, b.reason, b.updatedAt], true);
      }),
  };
}
