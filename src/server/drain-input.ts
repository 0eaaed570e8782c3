import { z } from 'zod';
import type { OffloadConfig } from '../config/load.js';
import { parseDuration } from '../domain/duration.js';
import { ValidationError } from '../domain/errors.js';
import type { DrainRequest } from '../delivery/drain.js';
import { issuesOf } from './message-input.js';

/** Limits of a drain request (README, limits table). */
export const DRAIN_INPUT_LIMITS = { channels: 1_000, timeoutMs: 120_000, defaultTimeoutMs: 30_000, rounds: 1_000, defaultRounds: 100 } as const;

/** Body of POST /v1/drain; every field is optional and an empty body drains everything. */
export const drainInputSchema = z
  .object({
    /** Queues, topics (every subscription) or `topic/subscription`; all when left out. */
    channels: z
      .array(z.string().min(1, 'a channel name is not empty'))
      .min(1, 'name at least one channel, or leave channels out to drain every channel')
      .max(DRAIN_INPUT_LIMITS.channels, `at most ${DRAIN_INPUT_LIMITS.channels} channels`)
      .optional(),
    /** How long to wait at most, e.g. `10s` or milliseconds. Default 30s, at most 2m. */
    timeout: z
      .union([z.string(), z.number()])
      .transform((value, ctx) => {
        const ms = parseDuration(value);
        if (ms === undefined) ctx.addIssue({ code: 'custom', message: `'${value}' is not a duration: write it like 500ms, 10s or 2m` });
        else if (ms > DRAIN_INPUT_LIMITS.timeoutMs) ctx.addIssue({ code: 'custom', message: `a drain waits at most 2m (${DRAIN_INPUT_LIMITS.timeoutMs}ms)` });
        return ms ?? 0;
      })
      .optional(),
    /** Treat retries waiting for their backoff (or Retry-After) as due now. Default false. */
    skipBackoff: z.boolean().optional(),
    /** Rounds at most (work created by deliveries is the next round's). Default 100. */
    maxRounds: z.number().int().min(1, 'maxRounds is at least 1').max(DRAIN_INPUT_LIMITS.rounds, `maxRounds is at most ${DRAIN_INPUT_LIMITS.rounds}`).optional(),
  })
  .strict();

/** Validates a drain body and names the targets it covers, with the notification queues they feed. */
export function toDrainRequest(body: unknown, config: OffloadConfig): DrainRequest {
  const parsed = drainInputSchema.optional().safeParse(body);
  if (!parsed.success) throw new ValidationError(`invalid drain request: ${parsed.error.issues[0]!.message}`, issuesOf(parsed.error));
  const input = parsed.data ?? {};
  const targets = new Set<string>();
  const unknown: Array<{ path: string; message: string }> = [];
  if (!input.channels) for (const t of config.targets) targets.add(t.name);
  (input.channels ?? []).forEach((name, i) => {
    const named = targetsOf(name, config);
    if (named) for (const t of named) targets.add(t);
    else unknown.push({ path: `channels.${i}`, message: `'${name}' is not a configured queue, topic or topic/subscription (queues: ${[...config.queues.keys()].join(', ') || 'none'}; topics: ${[...config.topics.keys()].join(', ') || 'none'})` });
  });
  if (unknown.length > 0) throw new ValidationError(`invalid drain request: ${unknown[0]!.message}`, unknown);
  // Notifications are work that delivering creates: drained with the targets that raise them.
  for (const target of [...targets]) for (const queue of Object.values(config.notifications.get(target) ?? {})) targets.add(queue);
  return {
    targets: [...targets],
    timeoutMs: input.timeout ?? DRAIN_INPUT_LIMITS.defaultTimeoutMs,
    skipBackoff: input.skipBackoff ?? false,
    maxRounds: input.maxRounds ?? DRAIN_INPUT_LIMITS.defaultRounds,
  };
}

function targetsOf(name: string, config: OffloadConfig): readonly string[] | undefined {
  if (config.queues.has(name) || config.internalQueues.includes(name)) return [name];
  const subscriptions = config.topics.get(name);
  if (subscriptions) return subscriptions;
  if ([...config.topics.values()].some((subs) => subs.includes(name))) return [name];
  return undefined;
}
