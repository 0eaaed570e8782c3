import type { Database as Db } from 'better-sqlite3';
import { NotFoundError } from '../../domain/errors.js';
import type { ChannelRowBase } from '../rows.js';
import { typed } from './statements.js';

export type ChannelRow = ChannelRowBase;

/**
 * Names, kinds and orderings of channels, read on every claim and send. They never change once
 * a channel exists, so caching them is safe; a name not found is looked up again (another
 * process, or an application's outbox handle, may have declared it). `paused` is deliberately
 * not cached: another process on the same file may pause a channel, so claims read it.
 */
export interface ChannelCache {
  require(name: string): ChannelRow;
  byId(id: number): ChannelRow | undefined;
  all(): ChannelRow[];
  reload(): void;
}

export function createChannelCache(db: Db): ChannelCache {
  let byName = new Map<string, ChannelRow>();
  let byId = new Map<number, ChannelRow>();
  const select = typed(db).prepare<[], { id: number; name: string; kind: ChannelRow['kind']; topic_id: number | null; topic_name: string | null; ordering: ChannelRow['ordering'] }>(
    `SELECT c.id, c.name, c.kind, c.topic_id, t.name AS topic_name, c.ordering FROM channels c LEFT JOIN channels t ON t.id = c.topic_id`,
  );

  function reload(): void {
    const rows: ChannelRow[] = select.all().map((r) => ({ id: r.id, name: r.name, kind: r.kind, topicId: r.topic_id, topicName: r.topic_name, ordering: r.ordering }));
    byName = new Map(rows.map((r) => [r.name, r]));
    byId = new Map(rows.map((r) => [r.id, r]));
  }

  return {
    require(name) {
      let row = byName.get(name);
      if (!row) {
        reload();
        row = byName.get(name);
      }
      if (!row) throw new NotFoundError(`channel '${name}' does not exist`);
      return row;
    },
    byId: (id) => byId.get(id),
    all: () => [...byName.values()],
    reload,
  };
}
