/** Fan-out of live events (message and channel changes) to Server-Sent Events subscribers. */
export interface LiveEvent {
  type: string;
  at: number;
  [field: string]: unknown;
}

/**
 * Every type of event `GET /v1/events` carries (the dashboard's feed listens for each). Delivery
 * outcomes come from the dispatcher and completions; `accepted` from sends; `breaker`,
 * `endpoint-limit` and `throttled` from flow control; `seek` from an operator's seek.
 */
export const LIVE_EVENT_TYPES = [
  'accepted', 'delivered', 'deferred', 'retrying', 'deadlettered', 'parked', 'stalled', 'fenced',
  'breaker', 'endpoint-limit', 'throttled', 'seek',
] as const;

export interface EventHub {
  /** Hands the event to every listener with the next id of this process (1, 2, 3...). */
  publish(event: LiveEvent): void;
  subscribe(listener: (event: LiveEvent, id: number) => void): () => void;
  listeners(): number;
}

export function createEventHub(): EventHub {
  const listeners = new Set<(event: LiveEvent, id: number) => void>();
  let lastId = 0;
  return {
    publish(event) {
      const id = ++lastId;
      for (const listener of listeners) listener(event, id);
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    listeners: () => listeners.size,
  };
}
