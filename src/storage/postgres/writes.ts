import type { NewMessage } from '../../domain/message.js';
import type { SendResult } from '../port.js';
import { duplicateResult, type DuplicateRow } from '../rows.js';
import type { ChannelRow } from './channel-cache.js';
import { run, type Queryable } from './connection.js';
import type { HotStatements } from './statements.js';

export interface SendItem {
  channel: ChannelRow;
  message: NewMessage;
}

export interface WriteOptions {
  now: number;
  /** Name the statements (our own connections), or not (the application's, for the outbox). */
  prepared: boolean;
  /** NOTIFY channel for wake-ups, null for none. */
  wake: string | null;
  /**
   * Added to the NOTIFY payload after the channel name: the sending store's own mark, so its
   * LISTEN connection can skip a wake-up it already gave at commit. Null for the outbox (the
   * application commits, and the notification is the only wake-up).
   */
  origin: string | null;
}

/** The NOTIFY payload of a write to `channel`: its name, then the origin's mark if any. */
const payload = (channel: ChannelRow, o: WriteOptions): string => (o.origin ? `${channel.name} ${o.origin}` : channel.name);

/**
 * Stores messages inside the caller's transaction (the store's group commit, or the
 * application's own transaction for the outbox); a batch for one channel is a single statement
 * (a function call), so it may also run on its own. Channels are handled in id order, so two transactions publishing
 * to the same topics take their row locks in the same order. Results are in input order.
 */
export async function insertMessages(db: Queryable, sql: HotStatements, items: readonly SendItem[], options: WriteOptions): Promise<SendResult[]> {
  const groups = new Map<number, number[]>();
  items.forEach((item, index) => groups.set(item.channel.id, [...(groups.get(item.channel.id) ?? []), index]));
  const results: SendResult[] = new Array<SendResult>(items.length);
  for (const channelId of [...groups.keys()].sort((a, b) => a - b)) {
    const indexes = groups.get(channelId)!;
    const channel = items[indexes[0]!]!.channel;
    const messages = indexes.map((i) => items[i]!.message);
    const fresh = channel.kind === 'topic' ? await publish(db, sql, channel, messages, options) : await enqueue(db, sql, channel, messages, options);
    const duplicates: number[] = [];
    indexes.forEach((itemIndex, k) => {
      const id = messages[k]!.id;
      const result = fresh.get(id);
      if (result) {
        results[itemIndex] = result;
        fresh.delete(id); // a repeated id later in the batch is a duplicate of this one
      } else {
        duplicates.push(itemIndex);
      }
    });
    if (duplicates.length > 0) {
      const ids = duplicates.map((i) => items[i]!.message.id);
      const statuses = await duplicateStatuses(db, sql, channel.id, ids, options);
      for (const i of duplicates) results[i] = statuses.get(items[i]!.message.id) ?? { id: items[i]!.message.id, status: 'delivered', duplicate: true };
    }
  }
  return results;
}

function columns(channel: ChannelRow, messages: readonly NewMessage[], now: number): unknown[] {
  return [
    channel.id,
    messages.map((m) => m.id),
    messages.map((m) => m.key),
    messages.map((m) => m.type),
    messages.map((m) => m.data),
    messages.map((m) => JSON.stringify(m.metadata)),
    messages.map((m) => m.deliverAt),
    now,
  ];
}

async function enqueue(db: Queryable, sql: HotStatements, channel: ChannelRow, messages: readonly NewMessage[], o: WriteOptions) {
  const values = [
    ...columns(channel, messages, o.now), channel.kind === 'fifo', o.wake, payload(channel, o),
    messages.map((m) => m.priority ?? 0), messages.map((m) => m.expiresAt ?? null),
  ];
  const rows = await run<{ id: string; available_at: number }>(db, sql.insertQueued, values, o.prepared);
  return new Map<string, SendResult>(rows.map((r) => [r.id, { id: r.id, status: r.available_at > o.now ? 'scheduled' : 'queued', duplicate: false }]));
}

/** One call of publish_messages: sequences reserved under the topic's row lock, duplicates skipped without leaving holes. */
async function publish(db: Queryable, sql: HotStatements, channel: ChannelRow, messages: readonly NewMessage[], o: WriteOptions) {
  const rows = await run<{ id: string; sequence: number }>(db, sql.publishMessages, [...columns(channel, messages, o.now), o.wake, payload(channel, o)], o.prepared);
  return new Map<string, SendResult>(rows.map((r) => [r.id, { id: r.id, status: 'queued', duplicate: false, sequence: r.sequence }]));
}

async function duplicateStatuses(db: Queryable, sql: HotStatements, channelId: number, ids: string[], { now, prepared }: WriteOptions) {
  const rows = await run<DuplicateRow & { id: string }>(db, sql.duplicateStatus, [channelId, ids], prepared);
  const byId = new Map<string, DuplicateRow[]>();
  for (const row of rows) byId.set(row.id, [...(byId.get(row.id) ?? []), row]);
  return new Map<string, SendResult>([...byId].map(([id, group]) => [id, duplicateResult(id, group, now)]));
}
