/**
 * What a handler tells Offload. Each outcome can be returned or thrown; anything else thrown is
 * an unexpected error (500, retried with backoff).
 */

/** Retry no sooner than `seconds` from now: answered 503 with `Retry-After`. */
export class RetryAfter extends Error {
  override readonly name = 'RetryAfter';
  constructor(readonly seconds: number, reason = `retry after ${seconds}s`) {
    super(reason);
  }
}

/** Retrying cannot help: answered 422 with the reason, which Offload keeps with the attempt. */
export class PermanentFailure extends Error {
  override readonly name = 'PermanentFailure';
}

/** Success with a result: the JSON value is the response body, which Offload keeps as the message's result. */
export class Ok {
  constructor(readonly result: unknown) {}
}

/**
 * An ordered batch applied up to the event `id` and stops there: answered 2xx with
 * `appliedThrough`, so Offload delivers the events up to it and gives the rest back without
 * counting an attempt. `id` is the current event's (it was applied) or an earlier one of the
 * batch (the current event was not applied: with an inbox its transaction is rolled back).
 */
export class AppliedThrough {
  constructor(readonly id: string) {}
}

export function appliedThrough(id: string): AppliedThrough {
  if (typeof id !== 'string' || id === '') throw new TypeError('appliedThrough needs the id of an event of the batch');
  return new AppliedThrough(id);
}

export function retryAfter(seconds: number, reason?: string): RetryAfter {
  if (!Number.isFinite(seconds) || seconds < 0) throw new RangeError(`retryAfter needs a number of seconds >= 0, got ${seconds}`);
  return new RetryAfter(Math.ceil(seconds), reason);
}

export function permanent(reason: string): PermanentFailure {
  return new PermanentFailure(reason);
}

export function ok(result: unknown): Ok {
  return new Ok(result);
}

export type Outcome = RetryAfter | PermanentFailure | Ok | AppliedThrough;

/** What a handler may return: nothing (done), or an outcome. */
export type HandlerResult = void | undefined | Outcome;
