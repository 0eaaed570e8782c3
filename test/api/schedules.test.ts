import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createFakeClock } from '../../src/domain/clock.js';
import { createFakeScheduler } from '../../src/domain/scheduler.js';
import { get, post, startOffload } from '../support/offload.js';
import { runCli } from '../support/cli.js';
import { testDir } from '../support/temp.js';

const NOW = Date.parse('2026-01-01T09:30:00Z');

async function scheduledOffload() {
  const clock = createFakeClock(NOW);
  const scheduler = createFakeScheduler(clock);
  const offload = await startOffload(
    {
      // 'process': a send resolves without an fsync on the thread pool, so the fake scheduler's settle sees it.
      storage: { sqlite: { path: join(testDir(), 'offload.db'), durability: 'process' } },
      endpoints: { api: { url: 'http://127.0.0.1:9/' } },
      queues: { reports: { endpoint: 'api' } },
      topics: { ticks: { subscriptions: {} } },
      schedules: {
        hourly: { cron: '0 * * * *', timezone: 'Europe/London', queue: 'reports', message: { type: 'ReportDue', data: { kind: 'hourly' } } },
        'quarter-past': { cron: '30 15 * * * *', topic: 'ticks', message: { type: 'Tick', key: 'clock' }, catchUp: 'none' },
      },
    },
    { clock, scheduler },
  );
  await scheduler.advance(0); // the first round records where each schedule starts
  return { offload, clock, scheduler };
}

describe('schedules API and CLI', () => {
  it('lists schedules with next and last run; pause and resume are shared through the store', async () => {
    const { offload, scheduler } = await scheduledOffload();
    let list = await get(offload.url, '/v1/schedules');
    expect(list.status).toBe(200);
    expect(list.body.items).toEqual([
      { name: 'hourly', cron: '0 * * * *', timezone: 'Europe/London', queue: 'reports', type: 'ReportDue', key: null, catchUp: 'latest', paused: false, lastRunAt: null, nextRunAt: '2026-01-01T10:00:00.000Z' },
      { name: 'quarter-past', cron: '30 15 * * * *', timezone: 'UTC', topic: 'ticks', type: 'Tick', key: 'clock', catchUp: 'none', paused: false, lastRunAt: null, nextRunAt: '2026-01-01T10:15:30.000Z' },
    ]);
    await scheduler.advance(30 * 60_000);
    list = await get(offload.url, '/v1/schedules/hourly');
    expect(list.body).toMatchObject({ lastRunAt: '2026-01-01T10:00:00.000Z', nextRunAt: '2026-01-01T11:00:00.000Z' });
    const sent = await get(offload.url, `/v1/messages/${encodeURIComponent('schedule:hourly:2026-01-01T10:00:00.000Z')}`);
    expect(sent.status).toBe(200);

    const paused = await post(offload.url, '/v1/schedules/hourly/pause', undefined);
    expect(paused.body).toMatchObject({ name: 'hourly', paused: true, nextRunAt: null });
    await scheduler.advance(60 * 60_000);
    expect((await get(offload.url, '/v1/schedules/hourly')).body.lastRunAt).toBe('2026-01-01T10:00:00.000Z');
    const resumed = await post(offload.url, '/v1/schedules/hourly/resume', undefined);
    expect(resumed.body).toMatchObject({ paused: false, nextRunAt: '2026-01-01T12:00:00.000Z' });

    const unknown = await post(offload.url, '/v1/schedules/nope/pause', undefined);
    expect(unknown.status).toBe(404);
    expect(unknown.body.detail).toMatch(/schedule 'nope' is not configured \(configured schedules: hourly, quarter-past\)/);
  });

  it('offload schedules list, pause and resume', async () => {
    const { offload } = await scheduledOffload();
    const env = { OFFLOAD_URL: offload.url };
    const list = await runCli(['schedules', 'list'], { env });
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/hourly\s+0 \* \* \* \*\s+Europe\/London\s+-> queue reports\s+next 2026-01-01T10:00:00.000Z\s+last never/);
    const pause = await runCli(['schedules', 'pause', 'hourly'], { env });
    expect(pause.stdout.trim()).toBe('hourly paused');
    const json = JSON.parse((await runCli(['schedules', 'list', '--json'], { env })).stdout) as Array<{ name: string; paused: boolean }>;
    expect(json.find((s) => s.name === 'hourly')!.paused).toBe(true);
    const resume = await runCli(['schedules', 'resume', 'hourly'], { env });
    expect(resume.stdout.trim()).toMatch(/^hourly resumed; next run 2026-01-01T10:00:00.000Z$/);
  });
});
