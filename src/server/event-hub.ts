/** Fan-out of live events (message and channel changes) to Server-Sent Events subscribers. */
export interface LiveEvent {
  type: string;
  at: number;
  [field: string]: unknown;
}

export interface EventHub {
  publish(event: LiveEvent): void;
  subscribe(listener: (event: LiveEvent) => void): () => void;
  listeners(): number;
}

export function createEventHub(): EventHub {
  const listeners = new Set<(event: LiveEvent) => void>();
  return {
    publish(event) {
      for (const listener of listeners) listener(event);
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    listeners: () => listeners.size,
  };
}
