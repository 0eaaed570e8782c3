import type { Database as Db, Statement } from 'better-sqlite3';
import type { StoreSchedules } from '../port.js';

interface ScheduleRow {
  name: string;
  handled_until: number;
  last_run_at: number | null;
  paused: number;
}

/** Recurring schedules' shared state on SQLite (see the port for what each method promises). */
export function createSqliteSchedules(db: Db): StoreSchedules {
  // Prepared on first use: the table exists only once the store has migrated.
  let sql: { list: Statement; advance: Statement; pause: Statement } | undefined;
  const statements = () =>
    (sql ??= {
      list: db.prepare('SELECT name, handled_until, last_run_at, paused FROM schedules ORDER BY name'),
      // Forward only: MAX with COALESCE so a NULL on either side keeps the other.
      advance: db.prepare(`INSERT INTO schedules (name, handled_until, last_run_at) VALUES (?, ?, ?)
        ON CONFLICT (name) DO UPDATE SET handled_until = MAX(handled_until, excluded.handled_until),
          last_run_at = MAX(COALESCE(last_run_at, excluded.last_run_at), COALESCE(excluded.last_run_at, last_run_at))`),
      pause: db.prepare(`INSERT INTO schedules (name, handled_until, paused) VALUES (?, ?, ?)
        ON CONFLICT (name) DO UPDATE SET paused = excluded.paused,
          handled_until = CASE WHEN excluded.paused = 1 THEN handled_until ELSE MAX(handled_until, excluded.handled_until) END`),
    });
  return {
    async listSchedules() {
      const rows = statements().list.all() as ScheduleRow[];
      return rows.map((r) => ({ name: r.name, handledUntil: r.handled_until, lastRunAt: r.last_run_at, paused: r.paused === 1 }));
    },
    async advanceSchedule(name, handledUntil, lastRunAt) {
      statements().advance.run(name, handledUntil, lastRunAt);
    },
    async setSchedulePaused(name, paused, at) {
      statements().pause.run(name, at, paused ? 1 : 0);
    },
  };
}
