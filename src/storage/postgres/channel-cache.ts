import type pg from 'pg';
import { NotFoundError } from '../../domain/errors.js';
import { run } from './connection.js';
import type { HotStatements } from './statements.js';
import type { ChannelRowBase } from '../rows.js';

export type ChannelRow = ChannelRowBase;

/**
 * Names, kinds and orderings of channels. These never change once a channel exists (declare
 * changes only a subscription's filter, which is not cached: publishes read it in SQL; nothing
 * deletes channels), so caching them is safe; a name
 * not found is looked up again, because another instance may have declared it. `paused` is
 * deliberately not cached: it changes at runtime from any instance, so it is read where used.
 */
export interface ChannelCache {
  /** The channel, reloading once when the name is unknown; NotFoundError when it does not exist. */
  require(name: string): Promise<ChannelRow>;
  find(name: string): ChannelRow | undefined;
  all(): ChannelRow[];
  subscriptionsOf(topicId: number): ChannelRow[];
  reload(): Promise<void>;
}

export function createChannelCache(pool: pg.Pool, sql: HotStatements): ChannelCache {
  let byName = new Map<string, ChannelRow>();
  let loading: Promise<void> | null = null;

  async function load(): Promise<void> {
    const rows = await run<{ id: number; name: string; kind: ChannelRow['kind']; topic_id: number | null; topic_name: string | null; ordering: ChannelRow['ordering'] }>(
      pool, sql.channels, [], true,
    );
    byName = new Map(rows.map((r) => [r.name, { id: r.id, name: r.name, kind: r.kind, topicId: r.topic_id, topicName: r.topic_name, ordering: r.ordering }]));
  }

  // Concurrent misses share one query.
  function reload(): Promise<void> {
    loading ??= load().finally(() => {
      loading = null;
    });
    return loading;
  }

  return {
    async require(name) {
      let row = byName.get(name);
      if (!row) {
        await reload();
        row = byName.get(name);
      }
      if (!row) throw new NotFoundError(`channel '${name}' does not exist`);
      return row;
    },
    find: (name) => byName.get(name),
    all: () => [...byName.values()],
    subscriptionsOf: (topicId) => [...byName.values()].filter((c) => c.topicId === topicId),
    reload,
  };
}
