import type { NewMessage } from '../../domain/message.js';
import type { Claim, SendResult } from '../port.js';
import { duplicateResult, type DuplicateRow } from '../rows.js';
import type { ChannelRow } from './channel-cache.js';
import { run, type Queryable } from './connection.js';
import { unorderedClaims, type FreeRow } from './leases.js';
import type { HotStatements } from './statements.js';

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
  /** A queue's send only: claim up to `limit` in the same transaction, for `owner` until `leaseUntil` (migration 36). */
  claim?: { limit: number; owner: string; leaseUntil: number; claimed?: { claims: Claim[]; nextWakeAt?: number | null } };
}

/** The NOTIFY payload of a write to `channel`: its name, then the origin's mark if any. */
const payload = (channel: ChannelRow, o: WriteOptions): string => (o.origin ? `${channel.name} ${o.origin}` : channel.name);

/**
 * Stores messages for one channel inside the caller's transaction (the application's, for the
 * outbox) or on their own: a single statement (a function call), committed by the caller or as
 * it runs. Results are in input order; a repeated id is a duplicate of its first occurrence.
 */
export async function insertMessages(db: Queryable, sql: HotStatements, channel: ChannelRow, messages: readonly NewMessage[], options: WriteOptions): Promise<SendResult[]> {
  const fresh = channel.kind === 'topic' ? await publish(db, sql, channel, messages, options) : await enqueue(db, sql, channel, messages, options);
  const results: SendResult[] = new Array<SendResult>(messages.length);
  const duplicates: number[] = [];
  messages.forEach((message, i) => {
    const result = fresh.get(message.id);
    if (result) {
      results[i] = result;
      fresh.delete(message.id); // a repeated id later in the batch is a duplicate of this one
    } else {
      duplicates.push(i);
    }
  });
  if (duplicates.length > 0) {
    const statuses = await duplicateStatuses(db, sql, channel.id, duplicates.map((i) => messages[i]!.id), options);
    for (const i of duplicates) results[i] = statuses.get(messages[i]!.id) ?? { id: messages[i]!.id, status: 'delivered', duplicate: true };
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
  const sent = (id: string, availableAt: number): [string, SendResult] => [id, { id, status: availableAt > o.now ? 'scheduled' : 'queued', duplicate: false }];
  if (!o.claim) {
    const rows = await run<{ id: string; available_at: number }>(db, sql.insertQueued, values, o.prepared);
    return new Map<string, SendResult>(rows.map((r) => sent(r.id, r.available_at)));
  }
  type Row = FreeRow & { sent_id: string | null; sent_available_at: number | null; looked_ahead: boolean | null; next_at: number | null };
  const rows = await run<Row>(db, sql.insertQueuedAndClaim, [...values, o.claim.limit, o.claim.owner, o.claim.leaseUntil], o.prepared);
  const ahead = rows.find((r) => r.looked_ahead === true);
  // Kept across tries: a try that committed claimed for this instance, whatever failed after it.
  o.claim.claimed = {
    claims: [...(o.claim.claimed?.claims ?? []), ...unorderedClaims(channel, rows.filter((r) => r.delivery_id !== null))],
    ...(ahead ? { nextWakeAt: ahead.next_at === null ? null : Number(ahead.next_at) } : {}),
  };
  return new Map<string, SendResult>(rows.filter((r) => r.sent_id !== null).map((r) => sent(r.sent_id!, Number(r.sent_available_at))));
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
