import { parseRowCursor } from './row-cursor.js';
import type { MessageStatus } from '../domain/message.js';
import type { ChannelRowBase } from './rows.js';

/**
 * The message explorer's filter, turned into SQL both adapters share. Only the filters given
 * become conditions (no `? IS NULL OR` guards), so each combination plans with the indexes that
 * fit it: the key index, `(channel_id, created_at)` or the primary key walked backwards.
 */

/** What the explorer searches by; every field optional, all given fields must match. */
export interface MessageFilter {
  /** Queue or topic name, or `topic/subscription` (the topic's messages, statuses of that subscription). */
  channel?: string;
  /** A delivery of the message has this status (as `deliveryStatus` derives it). */
  status?: MessageStatus;
  type?: string;
  key?: string;
  /** Created at or after (epoch ms). */
  since?: number;
  /** Created before (epoch ms). */
  until?: number;
}

/** The filter with names resolved to channel ids by the adapter. */
export interface ResolvedFilter {
  channelId?: number;
  /** Set when the filter names a subscription: status conditions look at that target only. */
  targetId?: number;
  status?: MessageStatus;
  type?: string;
  key?: string;
  since?: number;
  until?: number;
  /** Cursor: messages with a smaller pk (newest first). */
  beforePk?: number;
  /** The page's window: messages with this pk or a larger one (see searchWindow). */
  fromPk?: number;
}

/**
 * Messages one page of the search looks at, at most, by default: a filter that few messages
 * match (a status, a type) is checked message by message, and unbounded it read the whole
 * history in one statement (on SQLite, 0.2 s of a blocked event loop per 300,000 messages kept).
 */
export const SEARCH_EXAMINES = 10_000;

/**
 * The window of a search page: the `examine` newest pks below the cursor (pks only grow, so
 * this bounds the rows the page reads whatever the filter). `more`: older messages are kept
 * below the window, so a page that ends at the window's edge continues from there.
 */
export function searchWindow(bounds: { min: number | null; max: number | null }, beforePk: number | undefined, examine: number): { fromPk: number; more: boolean } {
  const below = beforePk ?? (bounds.max ?? 0) + 1;
  const fromPk = Math.max(1, below - Math.max(1, Math.floor(examine)));
  return { fromPk, more: bounds.min !== null && bounds.min < fromPk };
}

/** A page's `next`: where its rows ended (a full page), else the window's edge when older messages are kept below it. */
export function windowNext(within: string | null, window: { fromPk: number; more: boolean }): string | null {
  return within ?? (window.more ? String(window.fromPk) : null);
}

/**
 * Resolves the filter against the channel it names (already looked up by the adapter) and the
 * page cursor: a subscription searches its topic's messages with statuses of that target only.
 */
export function resolveFilter(filter: MessageFilter, channel: Pick<ChannelRowBase, 'id' | 'kind' | 'topicId'> | undefined, cursor: string | null | undefined): ResolvedFilter {
  return {
    ...filter,
    channelId: channel ? channel.topicId ?? channel.id : undefined,
    targetId: channel?.kind === 'subscription' ? channel.id : undefined,
    beforePk: parseRowCursor(cursor),
  };
}

/**
 * WHERE conditions over `messages m`. `param` binds a value and returns its placeholder;
 * `table` qualifies a table name.
 */
export function searchConditions(filter: ResolvedFilter, now: number, param: (value: unknown) => string, table: (name: string) => string): string[] {
  const where: string[] = [];
  if (filter.channelId !== undefined) where.push(`m.channel_id = ${param(filter.channelId)}`);
  if (filter.key !== undefined) where.push(`m.key = ${param(filter.key)}`);
  if (filter.type !== undefined) where.push(`m.type = ${param(filter.type)}`);
  if (filter.since !== undefined) where.push(`m.created_at >= ${param(filter.since)}`);
  if (filter.until !== undefined) where.push(`m.created_at < ${param(filter.until)}`);
  if (filter.beforePk !== undefined) where.push(`m.pk < ${param(filter.beforePk)}`);
  if (filter.fromPk !== undefined) where.push(`m.pk >= ${param(filter.fromPk)}`);
  const delivery: string[] = [];
  if (filter.targetId !== undefined) delivery.push(`d.target_id = ${param(filter.targetId)}`);
  if (filter.status !== undefined) delivery.push(statusCondition(filter.status, now, param, table));
  // OFFSET keeps PostgreSQL from turning the EXISTS into a join: as a hash semi-join it read every
  // delivery of the table (a sequential scan) to answer for the few thousand messages of the window.
  if (delivery.length > 0) where.push(`EXISTS (SELECT 1 FROM ${table('deliveries')} d WHERE d.message_pk = m.pk AND ${delivery.join(' AND ')} LIMIT 1 OFFSET 0)`);
  return where;
}

/** `deliveryStatus` (domain/delivery-state.ts) spelled as SQL over `deliveries d`; stored statuses are literals so partial indexes apply. */
function statusCondition(status: MessageStatus, now: number, param: (value: unknown) => string, table: (name: string) => string): string {
  const head = `d.position = (SELECT MIN(h.position) FROM ${table('deliveries')} h WHERE h.target_id = d.target_id AND h.lane = d.lane AND h.available_at IS NOT NULL)`;
  const lane = (state: string) => `EXISTS (SELECT 1 FROM ${table('lanes')} l WHERE l.target_id = d.target_id AND l.lane = d.lane AND l.state ${state})`;
  const blockedHead = `(d.lane IS NOT NULL AND ${lane("<> 'active'")} AND ${head})`;
  switch (status) {
    case 'delivering':
    case 'delivered':
    case 'deadlettered':
    case 'skipped':
      return `d.status = '${status}'`;
    case 'parked':
    case 'stalled':
      return `(d.status = 'ready' AND d.lane IS NOT NULL AND ${lane(`= '${status}'`)} AND ${head})`;
    case 'retrying':
      return `(d.status = 'ready' AND d.attempts > 0 AND NOT ${blockedHead})`;
    case 'scheduled':
      return `(d.status = 'ready' AND d.attempts = 0 AND d.available_at > ${param(now)} AND NOT ${blockedHead})`;
    case 'queued':
      return `(d.status = 'ready' AND d.attempts = 0 AND d.available_at <= ${param(now)} AND NOT ${blockedHead})`;
  }
}
