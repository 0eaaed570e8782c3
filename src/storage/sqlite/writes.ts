import type { Database as Db } from 'better-sqlite3';
import { NotFoundError } from '../../domain/errors.js';
import type { NewMessage } from '../../domain/message.js';
import { laneFor } from '../../domain/profile.js';
import type { ChannelDeclaration, SendResult } from '../port.js';
import { duplicateResult } from '../rows.js';
import type { ChannelRow } from './channel-cache.js';
import { createTally } from './counters.js';
import { passesFilter, toGlob, typed, type Statements } from './statements.js';
import type { SubscriptionFilter } from '../../domain/subscription-filter.js';

export interface SendItem {
  channel: ChannelRow;
  message: NewMessage;
}

/**
 * Stores messages inside the caller's transaction (the store's group commit, or the
 * application's own transaction for the outbox), counting them into their targets' depth.
 * Results are in input order.
 */
export function insertMessages(st: Statements, items: readonly SendItem[], now: number): SendResult[] {
  const tally = createTally(st);
  const results = items.map(({ channel, message }): SendResult => {
    const sequence = channel.kind === 'topic' ? nextSequence(st, channel.id) : null;
    const availableAt = Math.max(now, message.deliverAt ?? now);
    const inserted = st.insertMessage.run({
      channelId: channel.id, id: message.id, key: message.key, type: message.type, data: message.data, metadata: JSON.stringify(message.metadata),
      now, deliverAt: message.deliverAt, sequence, priority: message.priority ?? 0, expiresAt: message.expiresAt ?? null, availableAt,
    });
    if (inserted.changes === 0) {
      if (sequence !== null) st.undoSequence.run(channel.id);
      return duplicateResult(message.id, st.duplicateStatus.all(channel.id, message.id), now);
    }
    const pk = Number(inserted.lastInsertRowid);
    if (sequence !== null) {
      const fan = { pk, lane: message.key ?? '', sequence, availableAt, now, topic: channel.id, type: message.type, key: message.key };
      if (st.fanOut.run(fan).changes > 0) {
        for (const { target_id } of st.fanOutTargets.all(pk)) tally.add(target_id, { depth: 1 });
        st.fanOutLanes.run(fan);
      }
      return { id: message.id, status: 'queued', duplicate: false, sequence };
    }
    const lane = laneFor(channel.ordering, message.key);
    st.insertDelivery.run(pk, channel.id, lane, pk, availableAt, now, message.priority ?? 0, pk);
    if (lane !== null) st.insertLane.run(channel.id, lane, availableAt);
    tally.add(channel.id, { depth: 1 });
    return { id: message.id, status: availableAt > now ? 'scheduled' : 'queued', duplicate: false };
  });
  tally.flush();
  return results;
}

function nextSequence(st: Statements, topicId: number): number {
  st.nextSequence.run(topicId);
  return st.lastSequence.get(topicId)!.last_sequence;
}

/** A declared filter as stored: the filter itself (JSON), and its type and key patterns as JSON arrays of GLOB patterns. */
function storedFilter(filter: SubscriptionFilter | null | undefined): { filter: string | null; types: string | null; keys: string | null } {
  if (!filter) return { filter: null, types: null, keys: null };
  return {
    filter: JSON.stringify(filter),
    types: JSON.stringify(filter.types.map(toGlob)),
    keys: filter.keys ? JSON.stringify(filter.keys.map(toGlob)) : null,
  };
}

/** Topics first so their subscriptions can refer to them; a subscription from the beginning gets every kept message of its topic. */
export function declareChannels(connection: Db, declarations: readonly ChannelDeclaration[], now: number): void {
  const db = typed(connection);
  const insert = db.prepare<[string, string, number | null, string, number], { id: number }>(
    'INSERT INTO channels (name, kind, topic_id, ordering, created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING RETURNING id');
  const existing = db.prepare<[string | undefined, string], { id: number }>('SELECT id FROM channels WHERE name = ? AND kind = ?');
  const setFilter = db.prepare<{ filter: string | null; types: string | null; keys: string | null; id: number }>(
    'UPDATE channels SET filter = @filter, filter_types = @types, filter_keys = @keys WHERE id = @id AND filter IS NOT @filter');
  const backfill = db.prepare<[number, number, number, number]>(`
    INSERT INTO deliveries (message_pk, target_id, lane, position, status, attempts, available_at, updated_at)
    SELECT m.pk, c.id, CASE c.ordering WHEN 'key' THEN COALESCE(m.key, '') ELSE '' END, m.sequence, 'ready', 0, ?, ?
    FROM messages m JOIN channels c ON c.id = ? WHERE m.channel_id = ? AND ${passesFilter('c', 'm.type', 'm.key')} ORDER BY m.sequence`);
  const backfillLanes = db.prepare<[number, number]>(`
    INSERT INTO lanes (target_id, lane, state, ready_at)
    SELECT DISTINCT target_id, lane, 'active', ? FROM deliveries WHERE target_id = ? AND available_at IS NOT NULL
    ON CONFLICT DO NOTHING`);
  const countDepth = db.prepare<[number, number]>('UPDATE channels SET depth = depth + ? WHERE id = ?');
  const setTtl = db.prepare<[number | null, string]>(`UPDATE channels SET ttl_ms = ? WHERE name = ? AND kind = 'queue'`);
  connection.transaction(() => {
    const ordered = [...declarations].sort((a, b) => Number(a.kind === 'subscription') - Number(b.kind === 'subscription'));
    for (const d of ordered) {
      const parent = d.kind === 'subscription' ? existing.get(d.topic, 'topic')?.id : null;
      if (d.kind === 'subscription' && parent === undefined) throw new NotFoundError(`topic '${d.topic}' of subscription '${d.name}' is not declared`);
      const ordering = d.kind === 'queue' || d.kind === 'topic' ? 'none' : d.kind === 'fifo' ? 'key' : (d.ordering ?? 'topic');
      const created = insert.get(d.name, d.kind, parent ?? null, ordering, now);
      if (d.kind === 'queue') setTtl.run(d.ttlMs ?? null, d.name);
      if (d.kind !== 'subscription') continue;
      // The filter is the declared one, also for an existing subscription: later publishes apply it.
      setFilter.run({ ...storedFilter(d.filter), id: created?.id ?? existing.get(d.name, 'subscription')!.id });
      if (created && parent && d.startFrom === 'beginning') {
        countDepth.run(backfill.run(now, now, created.id, parent).changes, created.id);
        backfillLanes.run(now, created.id);
      }
    }
  }).immediate();
}
