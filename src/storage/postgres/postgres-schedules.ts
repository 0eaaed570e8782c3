import type pg from 'pg';
import type { StoreSchedules } from '../port.js';
import { guard, run } from './connection.js';
import { statementFactory } from './statements.js';

interface ScheduleRow {
  name: string;
  handled_until: number;
  last_run_at: number | null;
  paused: boolean;
}

function scheduleStatements(schema: string) {
  const st = statementFactory(schema);
  return {
    list: st('s_list', (s) => `SELECT name, handled_until, last_run_at, paused FROM ${s}.schedules ORDER BY name`),
    // Forward only: instances race to record the same ticks, the furthest one wins.
    advance: st('s_advance', (s) => `INSERT INTO ${s}.schedules (name, handled_until, last_run_at) VALUES ($1, $2, $3)
      ON CONFLICT (name) DO UPDATE SET handled_until = GREATEST(schedules.handled_until, EXCLUDED.handled_until),
        last_run_at = GREATEST(schedules.last_run_at, EXCLUDED.last_run_at)`),
    pause: st('s_pause', (s) => `INSERT INTO ${s}.schedules (name, handled_until, paused) VALUES ($1, $2, $3)
      ON CONFLICT (name) DO UPDATE SET paused = EXCLUDED.paused,
        handled_until = CASE WHEN EXCLUDED.paused THEN schedules.handled_until ELSE GREATEST(schedules.handled_until, EXCLUDED.handled_until) END`),
  };
}

/** Recurring schedules' shared state on PostgreSQL (see the port for what each method promises). */
export function createPostgresSchedules(pool: pg.Pool, schema: string): StoreSchedules {
  const sql = scheduleStatements(schema);
  return {
    listSchedules: () =>
      guard(async () => {
        const rows = await run<ScheduleRow>(pool, sql.list, [], true);
        return rows.map((r) => ({ name: r.name, handledUntil: Number(r.handled_until), lastRunAt: r.last_run_at === null ? null : Number(r.last_run_at), paused: r.paused }));
      }),
    advanceSchedule: (name, handledUntil, lastRunAt) =>
      guard(async () => {
        await run(pool, sql.advance, [name, handledUntil, lastRunAt], true);
      }),
    setSchedulePaused: (name, paused, at) =>
      guard(async () => {
        await run(pool, sql.pause, [name, at, paused], true);
      }),
  };
}
