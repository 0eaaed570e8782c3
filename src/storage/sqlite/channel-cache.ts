import type { Database as Db } from 'better-sqlite3';
import { NotFoundError } from '../../domain/errors.js';
import type { ChannelRowBase } from '../rows.js';

export interface ChannelRow extends ChannelRowBase {
  paused: boolean;
}

/** Channel rows are read on every claim and send; they change only on declare and pause. */
export interface ChannelCache {
  require(name: string): ChannelRow;
  find(name: string): ChannelRow | undefined;
  byId(id: number): ChannelRow | undefined;
  all(): ChannelRow[];
  refreshPaused(row: ChannelRow): ChannelRow;
  reload(): void;
}

export function createChannelCache(db: Db): ChannelCache {
  let byName = new Map<string, ChannelRow>();
  let byId = new Map<number, ChannelRow>();
  const select = db.prepare(`SELECT c.id, c.name, c.kind, c.topic_id, t.name AS topic_name, c.ordering, c.paused
    FROM channels c LEFT JOIN channels t ON t.id = c.topic_id`);

  function reload(): void {
    const rows = select.all() as Array<{ id: number; name: string; kind: ChannelRow['kind']; topic_id: number | null; topic_name: string | null; ordering: ChannelRow['ordering']; paused: number }>;
    byName = new Map();
    byId = new Map();
    for (const r of rows) {
      const row: ChannelRow = { id: r.id, name: r.name, kind: r.kind, topicId: r.topic_id, topicName: r.topic_name, ordering: r.ordering, paused: r.paused === 1 };
      byName.set(row.name, row);
      byId.set(row.id, row);
    }
  }

  return {
    require(name) {
      let row = byName.get(name);
      if (!row) {
        // Another process (the service, or an application's outbox handle) may have declared it since.
        reload();
        row = byName.get(name);
      }
      if (!row) throw new NotFoundError(`channel '${name}' does not exist`);
      return row;
    },
    find: (name) => byName.get(name),
    byId: (id) => byId.get(id),
    all: () => [...byName.values()],
    refreshPaused: (row) => byId.get(row.id) ?? row,
    reload,
  };
}
