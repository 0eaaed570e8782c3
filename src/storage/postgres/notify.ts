import pg from 'pg';
import { wakeAll, type WakeListener as Wake } from '../wake.js';
import { quoteIdent } from './connection.js';

export type WakeHandler = Wake;

export interface WakeListenerOptions {
  /** A new, unconnected client for the dedicated LISTEN connection. */
  newClient: () => pg.Client;
  /** The NOTIFY channel, e.g. `offload_<schema>`. */
  channel: string;
  /** Turns a payload (channel names, or `*`) into target names. */
  targetsOf: (payload: string) => Promise<string[]>;
  /** First reconnect delay; doubles up to `maxBackoffMs`. Default 250 ms. */
  minBackoffMs?: number;
  /** Default 10 s. */
  maxBackoffMs?: number;
}

/** A wake-up (new work) or a hold (paused or sought: what was claimed ahead is not sent). */
export type NoticeKind = 'wake' | 'hold';

/** The payload of a hold: `!hold ` (no channel name starts with `!`) before the names and the origin's mark. */
export const HOLD_PREFIX = '!hold ';

export interface WakeListener {
  subscribe(handler: WakeHandler, kind?: NoticeKind): () => void;
  close(): Promise<void>;
}

/**
 * One dedicated connection that LISTENs for wake-ups and holds, opened while anyone subscribes.
 * When the connection fails it reconnects with exponential backoff and jitter; notifications
 * sent while it was away are lost, so after reconnecting it wakes every target once (`*`), and
 * dispatchers poll as well in any case.
 */
export function createWakeListener(options: WakeListenerOptions): WakeListener {
  const handlers = { wake: new Set<WakeHandler>(), hold: new Set<WakeHandler>() };
  const minBackoff = options.minBackoffMs ?? 250;
  const maxBackoff = options.maxBackoffMs ?? 10_000;
  let client: pg.Client | null = null;
  let timer: NodeJS.Timeout | null = null;
  let failures = 0;
  let connectedBefore = false;
  let running = false;

  function deliver(payload: string): void {
    const kind: NoticeKind = payload.startsWith(HOLD_PREFIX) ? 'hold' : 'wake';
    if (handlers[kind].size === 0) return;
    // A failing handler must not stop the others or the connection (wakeAll).
    options.targetsOf(kind === 'hold' ? payload.slice(HOLD_PREFIX.length) : payload).then((targets) => wakeAll(handlers[kind], targets), () => {});
  }

  function scheduleReconnect(): void {
    if (!running || timer) return;
    const delay = Math.min(maxBackoff, minBackoff * 2 ** failures) * (0.5 + Math.random() / 2);
    failures++;
    timer = setTimeout(() => {
      timer = null;
      void connect();
    }, delay);
    timer.unref();
  }

  function drop(old: pg.Client): void {
    if (client !== old) return;
    client = null;
    old.removeAllListeners('notification');
    old.end().catch(() => {});
    scheduleReconnect();
  }

  async function connect(): Promise<void> {
    if (!running || client) return;
    const next = options.newClient();
    client = next;
    next.on('error', () => drop(next));
    next.on('end', () => drop(next));
    next.on('notification', (message) => {
      if (message.channel === options.channel) deliver(message.payload ?? '*');
    });
    try {
      await next.connect();
      await next.query(`LISTEN ${quoteIdent(options.channel)}`);
      if (client !== next) return;
      failures = 0;
      // Wake-ups only: a window whose hold was missed meanwhile ends by itself.
      if (connectedBefore) deliver('*');
      connectedBefore = true;
    } catch {
      drop(next);
    }
  }

  async function stop(): Promise<void> {
    running = false;
    if (timer) clearTimeout(timer);
    timer = null;
    const old = client;
    client = null;
    connectedBefore = false;
    failures = 0;
    if (old) {
      old.removeAllListeners('notification');
      await old.end().catch(() => {});
    }
  }

  return {
    subscribe(handler, kind = 'wake') {
      handlers[kind].add(handler);
      if (!running) {
        running = true;
        void connect();
      }
      return () => {
        handlers[kind].delete(handler);
        if (handlers.wake.size === 0 && handlers.hold.size === 0) void stop();
      };
    },
    async close() {
      handlers.wake.clear();
      handlers.hold.clear();
      await stop();
    },
  };
}
