import type { ServerResponse } from 'node:http';
import { ValidationError } from '../domain/errors.js';
import type { EventHub, LiveEvent } from './event-hub.js';

/** Bounds of one Server-Sent Events client. */
export interface EventStreamLimits {
  /** Events kept for a client whose socket is not taking more; past it events are dropped. Default 1000. */
  maxQueue: number;
  /** Dropped events after which a client that still does not read is disconnected. Default 10,000. */
  maxLost: number;
  /** Comment line sent when nothing else was, so proxies keep the connection. Default 15s. */
  heartbeatMs: number;
}

export const DEFAULT_EVENT_STREAM_LIMITS: EventStreamLimits = { maxQueue: 1_000, maxLost: 10_000, heartbeatMs: 15_000 };

const TYPE_NAME = /^[a-z][a-z-]{0,39}$/;

/** Every type of event the stream carries (besides `lagged`, which every client gets). */
export const EVENT_TYPES: readonly string[] = ['accepted', 'delivered', 'deferred', 'retrying', 'deadlettered', 'parked', 'stalled', 'fenced', 'breaker', 'endpoint-limit', 'throttled', 'seek'];

/** `types=delivered,deadlettered`: the event types a client wants (all when absent). */
export function parseTypes(value: unknown): ReadonlySet<string> | null {
  if (value === undefined) return null;
  const names = typeof value === 'string' ? value.split(',').map((t) => t.trim()) : [];
  if (names.length === 0 || names.length > 20 || names.some((t) => !TYPE_NAME.test(t))) {
    throw new ValidationError('types is a comma-separated list of event types, e.g. types=delivered,deadlettered', [{ path: 'types', message: 'a comma-separated list of event types' }]);
  }
  // A misspelt type would make a stream that never sends anything.
  const unknown = names.filter((t) => !EVENT_TYPES.includes(t));
  if (unknown.length > 0) {
    throw new ValidationError(`types: ${unknown.map((t) => `'${t}'`).join(', ')} ${unknown.length === 1 ? 'is not an event type' : 'are not event types'}; the types are ${EVENT_TYPES.join(', ')}`, [{ path: 'types', message: 'unknown event type' }]);
  }
  return new Set(names);
}

/**
 * Streams hub events to one client. Frames go to the socket while it takes them; once the
 * socket pushes back, up to `maxQueue` frames wait here, and further events are dropped and
 * counted. When the socket drains, the client is told how many it missed (a `lagged` event)
 * before the stream goes on. A client that has missed more than `maxLost` is disconnected:
 * memory per client stays bounded whatever it does.
 */
export function streamEvents(res: ServerResponse, hub: EventHub, types: ReadonlySet<string> | null, limits: EventStreamLimits = DEFAULT_EVENT_STREAM_LIMITS): void {
  const queue: string[] = [];
  let blocked = false;
  let lost = 0;
  let lastLostId = 0;
  let closed = false;

  const write = (frame: string) => {
    if (!res.write(frame)) blocked = true;
  };
  const flush = () => {
    blocked = false;
    while (!blocked && queue.length > 0) write(queue.shift()!);
    if (!blocked && lost > 0) {
      write(`id: ${lastLostId}\nevent: lagged\ndata: ${JSON.stringify({ type: 'lagged', missed: lost })}\n\n`);
      lost = 0;
    }
  };
  const close = () => {
    if (closed) return;
    closed = true;
    clearInterval(heartbeat);
    unsubscribe();
    queue.length = 0;
    res.off('drain', flush);
  };

  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
  write(': connected\n\n');
  const unsubscribe = hub.subscribe((event: LiveEvent, id: number) => {
    if (closed || (types && !types.has(event.type))) return;
    const frame = `id: ${id}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`;
    if (!blocked && queue.length === 0 && lost === 0) return write(frame);
    if (queue.length < limits.maxQueue) return void queue.push(frame);
    lost++;
    lastLostId = id;
    if (lost > limits.maxLost) {
      close();
      res.destroy();
    }
  });
  const heartbeat = setInterval(() => {
    if (!blocked) write(': keep-alive\n\n');
  }, limits.heartbeatMs);
  res.on('drain', flush);
  res.on('close', close);
}
