import type { FastifyInstance } from 'fastify';
import { NotFoundError } from '../../domain/errors.js';
import { nextTick, type ScheduleDefinition } from '../../domain/schedule.js';
import type { ScheduleState } from '../../storage/port.js';
import type { ServerContext } from '../context.js';
import { iso } from './messages.js';

/** Recurring schedules: what each sends where, its last and next run, pause and resume (shared by every instance). */
export function scheduleRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const find = (name: string): ScheduleDefinition => {
    const schedule = ctx.config.schedules.find((s) => s.name === name);
    if (!schedule) throw new NotFoundError(`schedule '${name}' is not configured (configured schedules: ${ctx.config.schedules.map((s) => s.name).join(', ') || 'none'})`);
    return schedule;
  };
  const present = (schedule: ScheduleDefinition, state: ScheduleState | undefined) => {
    const now = ctx.now();
    const paused = state?.paused ?? false;
    return {
      name: schedule.name,
      cron: schedule.cron,
      timezone: schedule.timezone,
      ...(ctx.config.queues.has(schedule.channel) ? { queue: schedule.channel } : { topic: schedule.channel }),
      type: schedule.message.type,
      key: schedule.message.key,
      catchUp: schedule.catchUp,
      paused,
      lastRunAt: iso(state?.lastRunAt ?? null),
      nextRunAt: paused ? null : iso(nextTick(schedule, Math.max(now, state?.handledUntil ?? now))),
    };
  };
  const stateOf = async (name: string) => (await ctx.store.listSchedules()).find((s) => s.name === name);

  app.get('/v1/schedules', async () => {
    const states = new Map((await ctx.store.listSchedules()).map((s) => [s.name, s]));
    return { items: ctx.config.schedules.map((s) => present(s, states.get(s.name))), next: null };
  });
  app.get<{ Params: { name: string } }>('/v1/schedules/:name', async (request) => {
    const schedule = find(request.params.name);
    return present(schedule, await stateOf(schedule.name));
  });
  for (const action of ['pause', 'resume'] as const) {
    app.post<{ Params: { name: string } }>(`/v1/schedules/:name/${action}`, async (request) => {
      const schedule = find(request.params.name);
      await ctx.store.setSchedulePaused(schedule.name, action === 'pause', ctx.now());
      return present(schedule, await stateOf(schedule.name));
    });
  }
}
