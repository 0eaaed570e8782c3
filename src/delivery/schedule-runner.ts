import type { Clock } from '../domain/clock.js';
import type { Scheduler } from '../domain/scheduler.js';
import { dueTicks, nextTick, tickMessageId, type ScheduleDefinition } from '../domain/schedule.js';
import { ValidationError } from '../domain/errors.js';
import type { ScheduleState, Store } from '../storage/port.js';

/** Longest the runner sleeps: it looks again at least this often, so a clock jump or a resume elsewhere is noticed. */
const MAX_SLEEP_MS = 60_000;

export interface ScheduleRunnerOptions {
  store: Store;
  schedules: readonly ScheduleDefinition[];
  clock: Clock;
  scheduler: Scheduler;
  /** After a failed round (the store refused), try again this soon. */
  retryMs: number;
  /** Longest sleep between rounds (default 60s). */
  maxSleepMs?: number;
  /** A tick's message was handed to the store (`duplicate`: another instance sent it first). */
  onSent?(schedule: ScheduleDefinition, tick: number, duplicate: boolean): void;
  onError(error: unknown): void;
}

export interface ScheduleRunner {
  start(): void;
  /** Stops the timer and waits for a round in progress. */
  stop(): Promise<void>;
  /** One round now: sends what is due (tests and the timer call this). */
  runOnce(): Promise<void>;
}

/**
 * Sends each schedule's due ticks. Every instance runs one; they agree through the store: the
 * message id of a tick is the same everywhere (the second send is a duplicate) and the shared
 * cursor says which ticks were dealt with, so a restarted instance catches up per `catchUp`
 * instead of starting over.
 */
export function createScheduleRunner(options: ScheduleRunnerOptions): ScheduleRunner {
  const { store, schedules, clock, scheduler } = options;
  let cancel: (() => void) | undefined;
  let running: Promise<void> | undefined;
  let stopped = true;

  /**
   * One round over every schedule. A schedule whose send fails does not hold the others back:
   * its error is reported and the round goes on; the round then fails (so the next comes after
   * `retryMs`) and that schedule tries its ticks again. A tick the store refuses as invalid would
   * be refused every time: it is reported and passed over.
   */
  async function round(): Promise<void> {
    const states = new Map((await store.listSchedules()).map((s) => [s.name, s]));
    let failed: unknown;
    for (const schedule of schedules) {
      try {
        await runSchedule(schedule, states.get(schedule.name));
      } catch (error) {
        failed ??= error;
        if (failed !== error) options.onError(error);
      }
    }
    if (failed !== undefined) throw failed;
  }

  async function runSchedule(schedule: ScheduleDefinition, state: ScheduleState | undefined): Promise<void> {
    const now = clock.now();
    // The first time a schedule is seen it starts from now: there is nothing to catch up on.
    if (!state) {
      await store.advanceSchedule(schedule.name, now, null);
      return;
    }
    if (state.paused) return;
    const due = dueTicks(schedule, state.handledUntil, now);
    if (due.cursor === state.handledUntil) return;
    let sent: number | null = null;
    for (const tick of due.send) {
      try {
        const [result] = await store.send(schedule.channel, [
          { id: tickMessageId(schedule.name, tick), key: schedule.message.key, type: schedule.message.type, data: schedule.message.data, metadata: {}, deliverAt: null },
        ]);
        sent = tick;
        options.onSent?.(schedule, tick, result?.duplicate === true);
      } catch (error) {
        if (!(error instanceof ValidationError)) throw error;
        options.onError(new ValidationError(`schedule '${schedule.name}': the message of tick ${new Date(tick).toISOString()} was refused and is passed over: ${error.message}`));
      }
    }
    await store.advanceSchedule(schedule.name, due.cursor, sent);
  }

  function sleepMs(): number {
    const now = clock.now();
    let next = now + (options.maxSleepMs ?? MAX_SLEEP_MS);
    for (const s of schedules) next = Math.min(next, nextTick(s, now) ?? next);
    return Math.max(1, next - now);
  }

  function arm(ms: number): void {
    if (stopped) return;
    cancel = scheduler.timeout(() => {
      cancel = undefined;
      void runOnce().then(
        () => arm(sleepMs()),
        () => arm(options.retryMs),
      );
    }, ms);
  }

  async function runOnce(): Promise<void> {
    while (running) await running;
    running = round()
      .catch((error: unknown) => {
        options.onError(error);
        throw error;
      })
      .finally(() => {
        running = undefined;
      });
    return running;
  }

  return {
    start() {
      if (!stopped || schedules.length === 0) return;
      stopped = false;
      arm(0);
    },
    async stop() {
      stopped = true;
      cancel?.();
      cancel = undefined;
      await running?.catch(() => undefined);
    },
    runOnce,
  };
}
