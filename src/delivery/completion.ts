import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Target } from '../domain/channel.js';
import type { Clock, Random } from '../domain/clock.js';
import { ASYNC_TIMEOUT_REASON } from '../domain/completion.js';
import { decide, type Decision } from '../domain/decide.js';
import type { AttemptRecord } from '../domain/message.js';
import type { Classification } from '../domain/outcome.js';
import { splitBatch } from '../domain/partial-ack.js';
import type { InFlightGroup, LeaseRef, SettleResult, Store } from '../storage/port.js';
import type { DeliveryEvent } from './dispatcher.js';

/** Signs and reads completion tokens: `<deliveryId>.<epoch>.<signature>`, safe in a URL path as is. */
export interface CompletionTokens {
  mint(lease: LeaseRef): string;
  /** The lease a token names, or null when it is malformed or not signed with this store's key. */
  parse(token: string): LeaseRef | null;
}

/** Numbers without leading zeros: a token has one spelling, so `7.01.<sig>` is not taken for `7.1.<sig>`. */
const TOKEN = /^(0|[1-9]\d{0,14})\.(0|[1-9]\d{0,8})\.([A-Za-z0-9_-]{22})$/;

export function completionTokens(key: string): CompletionTokens {
  const sign = (deliveryId: number, epoch: number) => createHmac('sha256', key).update(`${deliveryId}.${epoch}`).digest('base64url').slice(0, 22);
  return {
    mint: ({ deliveryId, epoch }) => `${deliveryId}.${epoch}.${sign(deliveryId, epoch)}`,
    parse(token) {
      const match = TOKEN.exec(token);
      if (!match) return null;
      const deliveryId = Number(match[1]);
      const epoch = Number(match[2]);
      const given = Buffer.from(match[3]!);
      const expected = Buffer.from(sign(deliveryId, epoch));
      return given.length === expected.length && timingSafeEqual(given, expected) ? { deliveryId, epoch } : null;
    },
  };
}

export interface GroupOutcome {
  store: Store;
  target: Target;
  group: InFlightGroup;
  outcome: Classification;
  /** Ordered batches: the last event applied; the rest is settled by `outcome` (released untried after a success). */
  appliedThrough?: string;
  /** The attempt record without its number (each delivery's own is filled in). */
  attempt: Omit<AttemptRecord, 'attempt'>;
  now: number;
  random: Random;
}

/**
 * Settles a call that is not settled by its own HTTP answer (a completion, a timed-out deferral)
 * the way the dispatcher settles an answer: one decision for the call, or for an ordered batch
 * the applied prefix delivered and the rest decided (or released). Returns what to report.
 */
export async function settleGroup(input: GroupOutcome): Promise<DeliveryEvent[]> {
  const { store, target, group, attempt, now, random } = input;
  const ids = group.deliveries.map((d) => d.messageId);
  const split = input.appliedThrough === undefined ? undefined : splitBatch(ids, input.appliedThrough, input.outcome);
  const settlements = (deliveries: InFlightGroup['deliveries'], decision: Decision) =>
    deliveries.map((d) => ({ deliveryId: d.deliveryId, epoch: d.epoch, decision, attempt: { ...attempt, attempt: d.attempt }, result: decision.kind === 'delivered' ? attempt.response : null }));
  const event = (deliveries: InFlightGroup['deliveries'], decision: Decision, results: readonly SettleResult[]) => eventOf(target, group, deliveries, decision, results, attempt);
  if (split === undefined) {
    const head = group.deliveries[0]!;
    const decision = decide(target, head.attempt, input.outcome, now, random, head.expiresAt);
    return [event(group.deliveries, decision, await store.settle(settlements(group.deliveries, decision)))];
  }
  const done = group.deliveries.slice(0, split.applied);
  const rest = group.deliveries.slice(split.applied);
  const delivered: Decision = { kind: 'delivered' };
  if (split.rest === 'release') {
    const results = await store.settle(settlements(done, delivered));
    await store.release(rest);
    return [event(done, delivered, results)];
  }
  const decision = decide(target, rest[0]!.attempt, split.rest, now, random, rest[0]!.expiresAt);
  const results = await store.settle([...settlements(done, delivered), ...settlements(rest, decision)]);
  return [event(done, delivered, results.slice(0, done.length)), event(rest, decision, results.slice(done.length))];
}

function eventOf(target: Target, group: InFlightGroup, deliveries: InFlightGroup['deliveries'], decision: Decision, results: readonly SettleResult[], attempt: Omit<AttemptRecord, 'attempt'>): DeliveryEvent {
  const fenced = results.every((r) => r === 'fenced');
  const type = fenced ? 'fenced' : decision.kind === 'retry' ? 'retrying' : decision.kind === 'deadletter' ? 'deadlettered' : decision.kind === 'park' ? 'parked' : decision.kind === 'stall' ? 'stalled' : 'delivered';
  const event: DeliveryEvent = {
    type, target: target.name, lane: group.lane, ids: deliveries.map((d) => d.messageId), attempt: deliveries[0]!.attempt, epoch: deliveries[0]!.epoch, durationMs: attempt.durationMs, statusCode: attempt.statusCode,
  };
  if ('reason' in decision) event.reason = decision.reason;
  if (decision.kind === 'park' || decision.kind === 'stall') event.newlyBlocked = results.includes('blocked');
  return event;
}

/**
 * Deferred calls of the target whose completion did not come in time: each is taken over and
 * settled as a failed attempt, decided by the target's policy (retry, stall, park, dead-letter).
 */
export async function expireDeferred(input: { store: Store; target: Target; owner: string; clock: Clock; random: Random; onEvent?: ((event: DeliveryEvent) => void) | undefined }): Promise<void> {
  const { store, target, clock } = input;
  const LIMIT = 100;
  for (;;) {
    const groups = await store.expireDeferred({ target: target.name, owner: input.owner, leaseMs: target.lockDurationMs, limit: LIMIT });
    for (const group of groups) {
      const now = clock.now();
      const startedAt = group.deferredAt ?? now;
      const events = await settleGroup({
        store,
        target,
        group,
        outcome: { kind: 'retryable', reason: ASYNC_TIMEOUT_REASON },
        attempt: { startedAt, durationMs: Math.max(0, now - startedAt), statusCode: 202, error: ASYNC_TIMEOUT_REASON, response: null },
        now,
        random: input.random,
      });
      for (const event of events) input.onEvent?.(event);
    }
    if (groups.reduce((n, g) => n + g.deliveries.length, 0) < LIMIT) return;
  }
}
