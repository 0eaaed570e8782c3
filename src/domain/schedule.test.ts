import { describe, expect, it } from 'vitest';
import { cronProblem, dueTicks, MAX_CATCH_UP, nextTick, ticksBetween, tickMessageId, type ScheduleDefinition } from './schedule.js';

const at = (iso: string) => Date.parse(iso);
const isoOf = (ms: number[]) => ms.map((t) => new Date(t).toISOString());
const schedule = (over: Partial<ScheduleDefinition> = {}): ScheduleDefinition => ({
  name: 'report',
  cron: '0 * * * *',
  timezone: 'UTC',
  channel: 'q',
  message: { type: 'ReportDue', key: null, data: '{}' },
  catchUp: 'latest',
  ...over,
});

describe('schedule ticks', () => {
  it('keeps local wall time across a DST change (Europe/London, spring forward and fall back)', () => {
    const daily = { cron: '30 9 * * *', timezone: 'Europe/London' };
    // 29 March 2026 clocks go forward: 09:30 local is 09:30Z before and 08:30Z after.
    expect(isoOf(ticksBetween(daily, at('2026-03-27T12:00:00Z'), at('2026-03-31T00:00:00Z'), 10))).toEqual([
      '2026-03-28T09:30:00.000Z', '2026-03-29T08:30:00.000Z', '2026-03-30T08:30:00.000Z',
    ]);
    // 25 October 2026 clocks go back.
    expect(isoOf(ticksBetween(daily, at('2026-10-24T00:00:00Z'), at('2026-10-26T23:00:00Z'), 10))).toEqual([
      '2026-10-24T08:30:00.000Z', '2026-10-25T09:30:00.000Z', '2026-10-26T09:30:00.000Z',
    ]);
  });

  it('moves a skipped wall time past the gap and fires a repeated one once', () => {
    const early = { cron: '30 1 * * *', timezone: 'Europe/London' };
    // 01:30 does not exist on 29 March 2026 (01:00 GMT -> 02:00 BST): it fires at 02:30 BST.
    expect(isoOf(ticksBetween(early, at('2026-03-28T12:00:00Z'), at('2026-03-30T12:00:00Z'), 10))).toEqual(['2026-03-29T01:30:00.000Z', '2026-03-30T00:30:00.000Z']);
    // 01:30 happens twice on 25 October 2026: it fires once, at the second (GMT) one.
    expect(isoOf(ticksBetween(early, at('2026-10-24T12:00:00Z'), at('2026-10-26T12:00:00Z'), 10))).toEqual(['2026-10-25T01:30:00.000Z', '2026-10-26T01:30:00.000Z']);
  });

  it('from inside the first pass of the repeated hour (a resume, a first run), still fires what the second pass holds', () => {
    const early = { cron: '30 1 * * *', timezone: 'Europe/London' };
    // 00:45Z is 01:45 BST, the first pass of 01:00-02:00 on 25 October 2026; 01:30 GMT (01:30Z) is still to come.
    expect(new Date(nextTick(early, at('2026-10-25T00:45:00Z'))!).toISOString()).toBe('2026-10-25T01:30:00.000Z');
    expect(isoOf(dueTicks({ ...schedule(), ...early }, at('2026-10-25T00:59:00Z'), at('2026-10-25T01:30:01Z')).send)).toEqual(['2026-10-25T01:30:00.000Z']);
    // Every 20 minutes: the same ticks as a schedule that ran all night (the second pass's), none lost.
    const every = { cron: '*/20 * * * *', timezone: 'Europe/London' };
    const resumed = ticksBetween(every, at('2026-10-25T00:45:00Z'), at('2026-10-25T02:30:00Z'), 20);
    const allNight = ticksBetween(every, at('2026-10-24T23:00:00Z'), at('2026-10-25T02:30:00Z'), 20).filter((t) => t > at('2026-10-25T00:45:00Z'));
    expect(isoOf(resumed)).toEqual(isoOf(allNight));
    expect(isoOf(resumed).slice(0, 3)).toEqual(['2026-10-25T01:00:00.000Z', '2026-10-25T01:20:00.000Z', '2026-10-25T01:40:00.000Z']);
    // From any moment of the first pass, not only whole minutes (a cursor is the time of a resume).
    for (const cursor of ['2026-10-25T00:45:12.345Z', '2026-10-25T00:30:05Z', '2026-10-25T00:00:00.001Z']) {
      expect(isoOf(dueTicks({ ...schedule(), ...every }, at(cursor), at('2026-10-25T01:00:30Z')).send)).toEqual(['2026-10-25T01:00:00.000Z']);
    }
    // Where croner fires the repeated hour's first pass (America/New_York), a cursor in the second
    // pass sends nothing again.
    const ny = { cron: '*/20 * * * *', timezone: 'America/New_York' };
    expect(dueTicks({ ...schedule(), ...ny }, at('2026-11-01T06:10:00Z'), at('2026-11-01T06:30:00Z')).send).toEqual([]);
    expect(nextTick(ny, at('2026-11-01T06:10:00Z'))).toBeGreaterThan(at('2026-11-01T06:10:00Z'));
    // Elsewhere in the year, and in a zone without DST, nothing changes.
    expect(new Date(nextTick(early, at('2026-10-26T00:45:00Z'))!).toISOString()).toBe('2026-10-26T01:30:00.000Z');
    expect(new Date(nextTick({ cron: '30 1 * * *', timezone: 'UTC' }, at('2026-10-25T00:45:00Z'))!).toISOString()).toBe('2026-10-25T01:30:00.000Z');
  });

  it('fires an hourly schedule once per real hour when the clocks go back', () => {
    const hourly = { cron: '0 * * * *', timezone: 'Europe/London' };
    const ticks = ticksBetween(hourly, at('2026-10-24T23:30:00Z'), at('2026-10-25T03:30:00Z'), 10);
    expect(new Set(ticks).size).toBe(ticks.length);
    expect(ticks.length).toBeGreaterThanOrEqual(3);
  });

  it('accepts 6 fields with seconds and refuses other counts, bad expressions and bad zones', () => {
    expect(cronProblem('*/10 * * * * *', 'UTC')).toBeNull();
    expect(nextTick({ cron: '*/10 * * * * *', timezone: 'UTC' }, at('2026-01-01T00:00:01Z'))).toBe(at('2026-01-01T00:00:10Z'));
    expect(cronProblem('* * * *', 'UTC')).toMatch(/4 fields/);
    expect(cronProblem('0 0 * * * * *', 'UTC')).toMatch(/7 fields/);
    expect(cronProblem('61 * * * *', 'UTC')).toMatch(/not a cron expression/);
    expect(cronProblem('0 * * * *', 'Mars/Olympus')).toMatch(/not a time zone/);
  });

  it('derives the same message id for the same tick', () => {
    expect(tickMessageId('report', at('2026-01-01T10:00:00Z'))).toBe('schedule:report:2026-01-01T10:00:00.000Z');
  });
});

describe('due ticks after downtime', () => {
  const cursor = at('2026-01-01T10:00:00Z');
  const now = at('2026-01-01T13:00:30Z'); // 11:00 and 12:00 missed, 13:00 on time

  it('sends the on-time tick and, per catchUp, none, the newest or all missed ones', () => {
    expect(isoOf(dueTicks(schedule({ catchUp: 'none' }), cursor, now).send)).toEqual(['2026-01-01T13:00:00.000Z']);
    expect(isoOf(dueTicks(schedule({ catchUp: 'latest' }), cursor, now).send)).toEqual(['2026-01-01T13:00:00.000Z']);
    expect(isoOf(dueTicks(schedule({ catchUp: 'all' }), cursor, now).send)).toEqual([
      '2026-01-01T11:00:00.000Z', '2026-01-01T12:00:00.000Z', '2026-01-01T13:00:00.000Z',
    ]);
    expect(dueTicks(schedule(), cursor, now).cursor).toBe(at('2026-01-01T13:00:00Z'));
  });

  it('a frequent schedule sends no burst after downtime: none and latest send one tick, all every one', () => {
    const everyFive = { cron: '*/5 * * * * *', timezone: 'UTC' };
    const down = at('2026-01-01T10:00:00Z');
    const back = at('2026-01-01T10:01:20.500Z'); // 80 s later: 16 ticks, the last 12 within a minute
    expect(isoOf(dueTicks(schedule({ ...everyFive, catchUp: 'none' }), down, back).send)).toEqual(['2026-01-01T10:01:20.000Z']);
    expect(isoOf(dueTicks(schedule({ ...everyFive, catchUp: 'latest' }), down, back).send)).toEqual(['2026-01-01T10:01:20.000Z']);
    expect(dueTicks(schedule({ ...everyFive, catchUp: 'all' }), down, back).send).toHaveLength(16);
    // A shorter gap (a restart of a few seconds, a late round) is no different: the newest, or all with all.
    const gap = [at('2026-01-01T10:00:50Z'), at('2026-01-01T10:01:06Z')] as const;
    expect(isoOf(dueTicks(schedule({ ...everyFive, catchUp: 'none' }), ...gap).send)).toEqual(['2026-01-01T10:01:05.000Z']);
    expect(isoOf(dueTicks(schedule({ ...everyFive, catchUp: 'latest' }), ...gap).send)).toEqual(['2026-01-01T10:01:05.000Z']);
    expect(dueTicks(schedule({ ...everyFive, catchUp: 'all' }), ...gap).send).toHaveLength(3);
  });

  it('latest sends the newest missed tick when none is on time; none sends nothing', () => {
    const late = at('2026-01-01T12:30:00Z');
    expect(isoOf(dueTicks(schedule({ catchUp: 'latest' }), cursor, late).send)).toEqual(['2026-01-01T12:00:00.000Z']);
    expect(dueTicks(schedule({ catchUp: 'none' }), cursor, late)).toEqual({ send: [], cursor: at('2026-01-01T12:00:00Z') });
  });

  it('all is bounded: only the newest MAX_CATCH_UP ticks, found without walking a month of minutes', () => {
    const due = dueTicks(schedule({ catchUp: 'all', cron: '* * * * *' }), cursor, cursor + 30 * 86_400_000);
    expect(due.send).toHaveLength(MAX_CATCH_UP);
    expect(due.send.at(-1)).toBe(cursor + 30 * 86_400_000);
  });
});
