import type { Target } from '../domain/channel.js';
import type { Clock, Random } from '../domain/clock.js';
import { classifyCompletion, type CompletionOutcome } from '../domain/completion.js';
import { CompletionConflictError, NotFoundError, OffloadError, ValidationError } from '../domain/errors.js';
import type { LeaseRef, Store } from '../storage/port.js';
import { completionTokens, settleGroup, type CompletionTokens } from './completion.js';
import type { DeliveryEvent } from './dispatcher.js';

export interface CompletionResult {
  target: string;
  lane: string | null;
  /** What became of the call's messages: `delivered`, `retrying`, `deadlettered`, `parked`, `stalled` (an ordered batch may list two). */
  outcomes: Array<{ outcome: DeliveryEvent['type']; ids: string[] }>;
}

export interface Completer {
  /** Loads the store's shared key; tokens are minted and checked only after it. */
  init(): Promise<void>;
  /** The token sent with a call to a target that takes asynchronous acknowledgements; undefined before init. */
  mint(lease: LeaseRef): string | undefined;
  /**
   * Settles the attempt a token names with the receiver's outcome. `mayComplete` says whether
   * the caller may act on the channel (queue, or a subscription's topic) the delivery belongs to.
   */
  complete(token: string, outcome: CompletionOutcome, mayComplete: (channel: string) => boolean): Promise<CompletionResult>;
}

export interface CompleterOptions {
  store: Store;
  targets: readonly Target[];
  clock: Clock;
  random: Random;
  onEvent?: (event: DeliveryEvent) => void;
  /** The lane (or queue) may go on: its settlement changed what is claimable. */
  wake?: (targets: string[]) => void;
}

const ALREADY_COMPLETED = 'this attempt was settled already (completed before, or given back untried at a shutdown, to be sent again): nothing changed';
const UNKNOWN = 'no delivery attempt has this completion token: send the Offload-Completion-Token header of the delivery request as it came';

/** Asynchronous acknowledgement, the completing half (the dispatcher defers and times out). */
export function createCompleter(options: CompleterOptions): Completer {
  let tokens: CompletionTokens | undefined;
  const init = async (): Promise<CompletionTokens> => (tokens ??= completionTokens(await options.store.completionKey()));
  return {
    async init() {
      await init();
    },
    mint: (lease) => tokens?.mint(lease),
    async complete(token, completion, mayComplete) {
      const mayAct = (name: string | null): Target => {
        const target = options.targets.find((t) => t.name === name);
        if (!target) throw new NotFoundError(name === null ? UNKNOWN : `the delivery belongs to '${name}', which is not configured on this instance`);
        const channel = target.kind === 'subscription' ? target.topic : target.name;
        if (!mayComplete(channel)) throw new OffloadError('forbidden', `this key may not complete deliveries of '${channel}'`);
        return target;
      };
      const lease = (await init()).parse(token);
      if (!lease) throw new NotFoundError(UNKNOWN);
      const found = await options.store.findInFlight(lease.deliveryId, lease.epoch);
      if (found === 'missing') throw new NotFoundError(UNKNOWN);
      // Whether it was settled or taken over is told only to who may complete it.
      if (found === 'superseded' || found === 'settled') mayAct(await options.store.deliveryTarget(lease.deliveryId));
      if (found === 'superseded') throw new CompletionConflictError('superseded', 'a later attempt took this delivery over (its asynchronous completion timed out, or its lease was lost): this outcome was discarded, nothing changed');
      if (found === 'settled') throw new CompletionConflictError('already_completed', ALREADY_COMPLETED);
      const target = mayAct(found.target);
      const ids = found.deliveries.map((d) => d.messageId);
      if (completion.appliedThrough !== undefined && !ids.includes(completion.appliedThrough)) {
        throw new ValidationError(`appliedThrough '${completion.appliedThrough}' is not a message of this call (its messages: ${ids.slice(0, 10).join(', ')}${ids.length > 10 ? ', …' : ''})`, [{ path: 'appliedThrough', message: 'not a message of this call' }]);
      }
      const now = options.clock.now();
      const outcome = classifyCompletion(completion);
      const startedAt = found.deferredAt ?? now;
      const events = await settleGroup({
        store: options.store,
        target,
        group: found,
        outcome,
        ...(completion.appliedThrough === undefined ? {} : { appliedThrough: completion.appliedThrough }),
        attempt: { startedAt, durationMs: Math.max(0, now - startedAt), statusCode: found.deferredAt === null ? null : 202, error: outcome.kind === 'delivered' ? null : outcome.reason, response: null },
        now,
        random: options.random,
      });
      for (const event of events) options.onEvent?.(event);
      if (events.every((e) => e.type === 'fenced')) {
        // A repeat of this completion that settled first leaves the attempt settled; a takeover moves it on.
        if ((await options.store.findInFlight(lease.deliveryId, lease.epoch)) === 'settled') throw new CompletionConflictError('already_completed', ALREADY_COMPLETED);
        throw new CompletionConflictError('superseded', 'the delivery changed hands while completing (its deferral timed out at the same moment): this outcome was discarded');
      }
      options.wake?.([target.name]);
      return { target: target.name, lane: found.lane, outcomes: events.map((e) => ({ outcome: e.type, ids: e.ids })) };
    },
  };
}
