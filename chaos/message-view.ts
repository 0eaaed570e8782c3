import { call } from './api.js';

/** One attempt as Offload recorded it. */
export interface AttemptView {
  readonly attempt: number;
  /** ISO 8601, Offload's clock. */
  readonly startedAt: string;
  readonly statusCode: number | null;
  readonly error: string | null;
  readonly durationMs: number;
}

/** What `GET /v1/messages/{id}` says about one message: the runner's second opinion on a violation. */
export interface MessageView {
  readonly status: string;
  readonly deliveries: ReadonlyArray<{
    readonly target: string;
    readonly status: string;
    readonly attempts: number;
    readonly lastError: string | null;
    readonly history: readonly AttemptView[];
  }>;
}

export type MessageLookup = (id: string, channel: string) => Promise<MessageView | undefined>;

/** A lookup through any live instance; undefined when none answers. */
export function createMessageLookup(pickUrl: () => string | undefined): MessageLookup {
  return async (id, channel) => {
    const url = pickUrl();
    if (!url) return undefined;
    const answer = await call(url, 'GET', `/v1/messages/${encodeURIComponent(id)}?channel=${encodeURIComponent(channel)}`).catch(() => undefined);
    return answer?.status === 200 ? (answer.body as MessageView) : undefined;
  };
}

export function describeView(view: MessageView): string {
  const deliveries = view.deliveries.map((d) => {
    const attempts = d.history.map((a) => `#${a.attempt} ${a.statusCode ?? a.error ?? '?'} in ${a.durationMs}ms`).join(', ');
    return `${d.target}: ${d.status} after ${d.attempts} attempt(s) [${attempts}]`;
  });
  return `${view.status}; ${deliveries.join('; ')}`;
}
