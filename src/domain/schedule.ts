import { Cron } from 'croner';

/**
 * Recurring schedules: a cron expression in a time zone that sends one message to a queue or
 * topic per tick. Pure: which ticks are due, and the id each tick's message carries. The id is
 * derived from the schedule's name and the tick's time, so every instance that fires the same tick
 * sends the same id and the store answers all but the first with `duplicate: true`.
 *
 * Glossary: a *tick* is one time the cron expression names (epoch ms); a schedule's *cursor* is
 * the latest tick it has dealt with (sent or deliberately passed over), shared through the store.
 */

export type CatchUp = 'none' | 'latest' | 'all';

export interface ScheduleDefinition {
  name: string;
  cron: string;
  timezone: string;
  /** The queue or topic the messages go to. */
  channel: string;
  message: { type: string; key: string | null; data: string };
  catchUp: CatchUp;
}

/** Most missed ticks `catchUp: all` sends after downtime (the newest ones); older ones are passed over. */
export const MAX_CATCH_UP = 100;

/** A tick is on time while it is at most this late; later ones count as missed (`catchUp`). */
export const ON_TIME_MS = 60_000;

/** Why a cron expression or time zone is refused, or null when it is usable. */
export function cronProblem(cron: string, timezone: string): string | null {
  const fields = cron.trim().split(/\s+/).length;
  if (fields !== 5 && fields !== 6) return `'${cron}' has ${fields} fields: write 5 (minute hour day month weekday) or 6 (with seconds first)`;
  try {
    Intl.DateTimeFormat('en', { timeZone: timezone });
  } catch {
    return `'${timezone}' is not a time zone: write an IANA name like Europe/London or UTC`;
  }
  try {
    const next = compile(cron, timezone).nextRun(new Date(0));
    if (!next) return `'${cron}' never fires`;
  } catch (error) {
    return `'${cron}' is not a cron expression: ${(error as Error).message}`;
  }
  return null;
}

function compile(cron: string, timezone: string): Cron {
  // paused: croner only computes times here; the runner owns the timers (injected scheduler).
  return new Cron(cron.trim(), { timezone, paused: true, legacyMode: true });
}

const formats = new Map<string, Intl.DateTimeFormat>();

/** How far `timezone`'s wall clock is ahead of UTC at `at`, in ms. */
function offsetAt(timezone: string, at: number): number {
  let format = formats.get(timezone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-US', { timeZone: timezone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric' });
    formats.set(timezone, format);
  }
  const part = Object.fromEntries(format.formatToParts(new Date(at)).map((p) => [p.type, Number(p.value)]));
  const wall = Date.UTC(part.year!, part.month! - 1, part.day!, part.hour!, part.minute!);
  return wall - (at - (at % 60_000));
}

/**
 * The first tick strictly after `at`. croner, asked from inside the first pass of an hour the
 * clocks repeat (fall back), skips that hour's second pass too; asked from before the repeated
 * hour it fires its ticks once, in the second pass. So from inside the first pass, the ticks are
 * read from before it and the first one after `at` is taken: a schedule resumed (or first run)
 * then still fires what the second pass holds.
 */
function nextAfter(cron: Cron, timezone: string, at: number): number | null {
  // Near a fall-back croner can answer a time at or before the one asked from (seen in
  // America/New_York): such an answer is not a next tick; its own successors lead past `at`.
  let next = cron.nextRun(new Date(at))?.getTime() ?? null;
  for (let steps = 0; next !== null && next <= at; steps++) {
    if (steps >= 10_000) return null;
    next = cron.nextRun(new Date(next))?.getTime() ?? null;
  }
  const offset = offsetAt(timezone, at);
  const later = offsetAt(timezone, at + 2 * 3_600_000);
  if (later >= offset) return next;
  // A fall-back within two hours: find it to the minute.
  // Offsets change on whole minutes: search on the minute grid, so the transition is found exactly.
  let low = at - (at % 60_000);
  let high = low + 2 * 3_600_000;
  while (high - low > 60_000) {
    const mid = low + Math.floor((high - low) / 120_000) * 60_000;
    if (offsetAt(timezone, mid) === offset) low = mid;
    else high = mid;
  }
  const repeatStarts = high - (offset - later);
  if (at < repeatStarts) return next;
  for (let from = repeatStarts - 1_000; ;) {
    const tick = cron.nextRun(new Date(from))?.getTime() ?? null;
    if (tick === null || tick > at) return next === null || tick === null ? tick ?? next : Math.min(tick, next);
    from = tick;
  }
}

/** The first tick strictly after `after`, or null when there is none. */
export function nextTick(schedule: Pick<ScheduleDefinition, 'cron' | 'timezone'>, after: number): number | null {
  // croner works in whole seconds and returns the next second strictly after the given date.
  return nextAfter(compile(schedule.cron, schedule.timezone), schedule.timezone, after);
}

/**
 * Ticks in (after, upTo], oldest first, at most `limit` (the newest ones when there are more).
 * After a long downtime a frequent schedule has countless missed ticks: the window looked at
 * grows backwards from `upTo`, doubling, until it holds `limit` ticks or reaches `after`, so the
 * work follows `limit`, not the length of the downtime.
 */
export function ticksBetween(schedule: Pick<ScheduleDefinition, 'cron' | 'timezone'>, after: number, upTo: number, limit: number): number[] {
  const cron = compile(schedule.cron, schedule.timezone);
  for (let span = 60_000; ; span *= 2) {
    const from = Math.max(after, upTo - span);
    const ticks: number[] = [];
    let at = from;
    for (;;) {
      const next = nextAfter(cron, schedule.timezone, at);
      if (next === null || next > upTo) break;
      ticks.push(next);
      if (ticks.length > limit) ticks.shift();
      at = next;
    }
    if (ticks.length >= limit || from === after) return ticks;
  }
}

/**
 * The ticks to send now, given the shared cursor. A runner wakes for each tick, so a round
 * normally finds one due; when it finds several (no instance ran, the store refused writes, the
 * schedule was paused, or a round came late), all but the newest were missed: `none` sends the
 * newest only if it is on time (at most ON_TIME_MS late), `latest` sends the newest, `all` sends
 * every one (at most MAX_CATCH_UP, the newest). So only `all` ever sends a burst.
 * The cursor then moves to the newest tick in (cursor, now] whether it was sent or not.
 */
export function dueTicks(schedule: ScheduleDefinition, cursor: number, now: number): { send: number[]; cursor: number } {
  const ticks = ticksBetween(schedule, cursor, now, MAX_CATCH_UP);
  if (ticks.length === 0) return { send: [], cursor };
  const newest = ticks[ticks.length - 1]!;
  const moved = { cursor: Math.max(cursor, newest) };
  if (schedule.catchUp === 'all') return { send: ticks, ...moved };
  return { send: schedule.catchUp === 'latest' || now - newest <= ON_TIME_MS ? [newest] : [], ...moved };
}

/** The message id of a tick: the same on every instance, so only the first send is stored. */
export function tickMessageId(name: string, tick: number): string {
  return `schedule:${name}:${new Date(tick).toISOString()}`;
}
