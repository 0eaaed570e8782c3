import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createFakeClock, type FakeClock } from '../../src/domain/clock.js';
import { createFakeScheduler } from '../../src/domain/scheduler.js';
import type { ScheduleDefinition } from '../../src/domain/schedule.js';
import { createScheduleRunner } from '../../src/delivery/schedule-runner.js';
import type { Store } from '../../src/storage/port.js';
import { createSqliteStore } from '../../src/storage/sqlite/sqlite-store.js';
import { createPostgresStore } from '../../src/storage/postgres/index.js';
import { dropSchema, postgresAvailable, TEST_PG_URL, testSchema } from '../support/postgres.js';
import { tempDir } from '../support/temp.js';

const pgAvailable = await postgresAvailable();
const at = (iso: string) => Date.parse(iso);

const definition = (over: Partial<ScheduleDefinition> = {}): ScheduleDefinition => ({
  name: 'report',
  cron: '0 * * * *',
  timezone: 'UTC',
  channel: 'q',
  message: { type: 'ReportDue', key: 'reports', data: '{"kind":"hourly"}' },
  catchUp: 'latest',
  ...over,
});

/** Ids of the messages on the queue, oldest first. */
async function sentIds(store: Store): Promise<string[]> {
  const page = await store.listMessages({ channel: 'q' }, { limit: 100 });
  return page.items.map((m) => m.message.id).reverse();
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function sqliteStore(path: string, clock: FakeClock): Promise<Store> {
  // 'process': sends resolve without waiting for an fsync on the thread pool, so the fake scheduler's settle sees them.
  const store = createSqliteStore({ path, clock, durability: 'process' });
  await store.migrate();
  await store.declare([{ name: 'q', kind: 'queue' }]);
  cleanups.push(() => store.close());
  return store;
}

function runner(store: Store, clock: FakeClock, schedule: ScheduleDefinition, maxSleepMs = 60_000) {
  const scheduler = createFakeScheduler(clock);
  const sent: Array<{ tick: number; duplicate: boolean }> = [];
  const r = createScheduleRunner({
    store, clock, scheduler, schedules: [schedule], retryMs: 1_000, maxSleepMs,
    onSent: (_s, tick, duplicate) => sent.push({ tick, duplicate }),
    onError: (error) => { throw error; },
  });
  cleanups.push(async () => {
    await r.stop();
    expect(scheduler.pending()).toBe(0);
  });
  return { runner: r, scheduler, sent };
}

describe('recurring schedules', () => {
  it('sends at 09:00 local time every day across the spring DST change, on a fake clock', async () => {
    const clock = createFakeClock(at('2026-03-27T12:00:00Z'));
    const dir = tempDir();
    cleanups.push(() => dir.cleanup());
    const store = await sqliteStore(join(dir.path, 'o.db'), clock);
    const { runner: r, scheduler } = runner(store, clock, definition({ cron: '0 9 * * *', timezone: 'Europe/London' }), 6 * 3_600_000);
    r.start();
    await scheduler.advance(4 * 86_400_000);
    expect(await sentIds(store)).toEqual([
      'schedule:report:2026-03-28T09:00:00.000Z', // GMT
      'schedule:report:2026-03-29T08:00:00.000Z', // BST from 29 March: 09:00 local is 08:00Z
      'schedule:report:2026-03-30T08:00:00.000Z',
      'schedule:report:2026-03-31T08:00:00.000Z',
    ]);
    const message = (await store.getMessage('schedule:report:2026-03-29T08:00:00.000Z', 'q'))[0]!.message;
    expect(message).toMatchObject({ type: 'ReportDue', key: 'reports', data: '{"kind":"hourly"}' });
    expect((await store.listSchedules())[0]).toMatchObject({ lastRunAt: at('2026-03-31T08:00:00Z'), paused: false });
  });

  for (const [catchUp, expected] of [
    ['all', ['12:00', '13:00', '14:00']],
    ['latest', ['14:00']],
    ['none', []],
  ] as const) {
    it(`after a restart, missed ticks follow catchUp: ${catchUp}`, async () => {
      const clock = createFakeClock(at('2026-01-01T09:30:00Z'));
      const dir = tempDir();
      cleanups.push(() => dir.cleanup());
      const path = join(dir.path, 'o.db');
      const first = await sqliteStore(path, clock);
      const a = runner(first, clock, definition({ catchUp }));
      a.runner.start();
      await a.scheduler.advance(2 * 3_600_000); // 10:00 and 11:00 on time
      await a.runner.stop();
      await first.close();
      clock.set(at('2026-01-01T14:20:00Z')); // down from 11:30 to 14:20
      const second = await sqliteStore(path, clock);
      const b = runner(second, clock, definition({ catchUp }));
      b.runner.start();
      await b.scheduler.advance(0);
      await b.runner.runOnce(); // waits for the catch-up round, however many sends it makes
      const hours = (await sentIds(second)).map((id) => id.slice('schedule:report:2026-01-01T'.length).slice(0, 5));
      expect(hours).toEqual(['10:00', '11:00', ...expected]);
      await b.scheduler.advance(3_600_000); // and on time again
      expect((await sentIds(second)).at(-1)).toBe('schedule:report:2026-01-01T15:00:00.000Z');
    });
  }

  it('a schedule whose sends fail holds no other back; a tick refused as invalid is reported and passed over', async () => {
    const clock = createFakeClock(at('2026-01-01T09:30:00Z'));
    const store = await sqliteStore(':memory:', clock);
    await store.declare([{ name: 'f', kind: 'fifo' }]);
    const scheduler = createFakeScheduler(clock);
    const errors: string[] = [];
    const r = createScheduleRunner({
      store, clock, scheduler, retryMs: 600_000,
      schedules: [
        definition({ name: 'keyless', channel: 'f', message: { type: 'T', key: null, data: '{}' } }),
        definition({ name: 'gone', channel: 'nowhere' }),
        definition({ name: 'report' }),
      ],
      onError: (error) => errors.push((error as Error).message),
    });
    cleanups.push(() => r.stop());
    r.start();
    await scheduler.advance(2 * 3_600_000);
    expect(await sentIds(store)).toEqual(['schedule:report:2026-01-01T10:00:00.000Z', 'schedule:report:2026-01-01T11:00:00.000Z']);
    expect(errors.filter((e) => e.startsWith("schedule 'keyless': the message of tick 2026-01-01T10:00:00.000Z was refused and is passed over: message 'schedule:keyless:2026-01-01T10:00:00.000Z' on 'f': a fifo queue needs a key"))).toHaveLength(1);
    expect(errors.some((e) => /nowhere/.test(e))).toBe(true);
    const states = new Map((await store.listSchedules()).map((s) => [s.name, s]));
    expect(states.get('keyless')!.handledUntil).toBe(at('2026-01-01T11:00:00Z'));
    expect(states.get('gone')!.handledUntil).toBe(at('2026-01-01T09:30:00Z'));
  });

  it('paused: no message; resumed: ticks of the pause are not sent, the next one is', async () => {
    const clock = createFakeClock(at('2026-01-01T09:30:00Z'));
    const store = await sqliteStore(':memory:', clock);
    const { runner: r, scheduler } = runner(store, clock, definition({ catchUp: 'all' }));
    r.start();
    await scheduler.advance(3_600_000);
    await store.setSchedulePaused('report', true, clock.now());
    await scheduler.advance(2 * 3_600_000);
    await store.setSchedulePaused('report', false, clock.now());
    await scheduler.advance(3_600_000);
    expect(await sentIds(store)).toEqual(['schedule:report:2026-01-01T10:00:00.000Z', 'schedule:report:2026-01-01T13:00:00.000Z']);
  });

  describe.skipIf(!pgAvailable)('two instances on PostgreSQL', () => {
    it('send exactly one message per tick; the other instance gets a duplicate', async () => {
      const schema = testSchema();
      cleanups.push(() => dropSchema(schema));
      const clock = createFakeClock(at('2026-01-01T09:59:00Z'));
      const open = async () => {
        const store = createPostgresStore({ url: TEST_PG_URL, schema, poolSize: 2, clock });
        await store.migrate();
        await store.declare([{ name: 'q', kind: 'queue' }]);
        cleanups.push(() => store.close());
        return store;
      };
      const [s1, s2] = [await open(), await open()];
      const a = runner(s1, clock, definition({ cron: '*/10 * * * * *', catchUp: 'all' }));
      const b = runner(s2, clock, definition({ cron: '*/10 * * * * *', catchUp: 'all' }));
      await Promise.all([a.runner.runOnce(), b.runner.runOnce()]);
      for (let i = 1; i <= 12; i++) {
        clock.set(at('2026-01-01T09:59:00Z') + i * 10_000 + 5);
        // Both instances see the tick at the same time and both send it.
        await Promise.all([a.runner.runOnce(), b.runner.runOnce()]);
      }
      const ids = await sentIds(s1);
      expect(ids).toHaveLength(12);
      expect(new Set(ids).size).toBe(12);
      const all = [...a.sent, ...b.sent];
      expect(all.filter((s) => !s.duplicate)).toHaveLength(12);
      expect(new Set(all.filter((s) => !s.duplicate).map((s) => s.tick)).size).toBe(12);
      expect(all.some((s) => s.duplicate)).toBe(true);
    });
  });
});
