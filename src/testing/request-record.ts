import type { IncomingHttpHeaders } from 'node:http';
import type { ReceivedEvent } from './cloud-events.js';
import type { Fault } from './faults.js';

/** A delivery request as the receiver read it, before it chose what to do. */
export interface ReceivedRequest {
  /** 0-based position among every request this receiver has seen. */
  readonly index: number;
  readonly method: string;
  /** The URL path, without the query. */
  readonly path: string;
  /** Which target (queue or subscription) the request is for: by default the path. */
  readonly target: string;
  readonly headers: IncomingHttpHeaders;
  readonly idempotencyKey?: string;
  readonly contentType?: string;
  readonly body: string;
  /** One event for a single delivery, several in order for a batch. */
  readonly events: readonly ReceivedEvent[];
  readonly parseError?: string;
  /** When the request headers arrived (receiver clock, epoch ms with fractions). */
  readonly startedAt: number;
}

/** Chooses a fault per request; `undefined` leaves the choice to the next rule or the default. */
export type Decider = (request: ReceivedRequest) => Fault | undefined;

/**
 * How a request ended:
 * - `pending`: not ended yet;
 * - `answered`: the whole response was handed to the connection (`status` says which);
 * - `reset`: the receiver reset the connection (fault `reset`);
 * - `aborted`: the client closed the connection before the response was complete
 *   (a client timeout cutting `hang`, `slowBody`, `slowHeaders`, `delay`);
 * - `hung`: still unanswered when the receiver closed.
 */
export type Outcome = 'pending' | 'answered' | 'reset' | 'aborted' | 'hung';

export interface RequestRecord extends ReceivedRequest {
  /** When the response finished or the connection died; absent while pending. */
  readonly endedAt?: number;
  /** The fault applied; absent if the connection died before the request body was read. */
  readonly fault?: Fault;
  readonly outcome: Outcome;
  /** The status sent, for `answered`. */
  readonly status?: number;
  /** Set when the decider threw; the request was then answered 500. */
  readonly decideError?: string;
}

/** Two requests for the same exclusive scope (key or target) that overlapped in time. */
export interface OverlapViolation {
  readonly target: string;
  /** The key both carried; absent when the scope is the whole target. */
  readonly key?: string;
  /** Request indexes: `first` started before `second`. */
  readonly first: number;
  readonly second: number;
  readonly at: number;
}

export function isAccepted(record: RequestRecord): boolean {
  return record.outcome === 'answered' && record.status !== undefined && record.status >= 200 && record.status < 300;
}
