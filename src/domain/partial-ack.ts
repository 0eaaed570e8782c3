import type { AttemptResult, Classification } from './outcome.js';

/**
 * Partial acknowledgement of an ordered batch: the endpoint answers which prefix of the batch it
 * applied with `{"appliedThrough": "<id>"}` in its JSON body (2xx or not). That prefix is
 * delivered; the rest is settled by the answer's own outcome, and after a 2xx that applied less
 * than the whole batch the rest goes back untried (no attempt counted: the endpoint made
 * progress, so a receiver that takes a batch in steps never runs into the stall limit). An id that is not in the batch, or a body that is not JSON
 * (or was cut at the excerpt limit), acknowledges nothing beyond what the status says.
 */
export interface PartialAck {
  /** How many events from the head of the batch were applied. */
  applied: number;
  /** The outcome of the events after them, or `release`: available again now, attempt not counted. */
  rest: Classification | 'release';
}

export function partialAck(result: AttemptResult, outcome: Classification, ids: readonly string[]): PartialAck | undefined {
  if (ids.length < 2 || result.kind !== 'response' || result.body === undefined || !result.body.includes('appliedThrough')) return undefined;
  const through = appliedThrough(result.body);
  if (through === undefined) return undefined;
  return splitBatch(ids, through, outcome);
}

/**
 * A batch whose call held only its first `sent` events (the rest did not fit one body): after a
 * success the events not sent go back untried, no attempt counted; a failure settles the whole
 * batch by its outcome, as it would a batch sent whole.
 */
export function unsentRest(outcome: Classification, sent: number, claimed: number): PartialAck | undefined {
  return sent < claimed && outcome.kind === 'delivered' ? { applied: sent, rest: 'release' } : undefined;
}

/**
 * The split of a batch whose events up to `through` were applied, the rest settled by `outcome`
 * (released untried after a success). Undefined when it splits nothing: `through` is not in the
 * batch, or is its last event (the outcome then applies to the whole batch).
 */
export function splitBatch(ids: readonly string[], through: string, outcome: Classification): PartialAck | undefined {
  const applied = ids.indexOf(through) + 1;
  if (applied === 0 || applied === ids.length) return undefined;
  if (outcome.kind !== 'delivered') return { applied, rest: outcome };
  return { applied, rest: 'release' };
}

function appliedThrough(body: string): string | undefined {
  try {
    const json: unknown = JSON.parse(body);
    if (typeof json !== 'object' || json === null) return undefined;
    const value = (json as Record<string, unknown>).appliedThrough;
    return typeof value === 'string' ? value : undefined;
  } catch {
    return undefined;
  }
}
