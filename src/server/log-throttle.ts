import type { Logger } from 'pino';

export interface LogThrottle {
  /**
   * Logs an error the first time it is seen in an interval; identical ones (same key) within the
   * interval are only counted, and the count is logged when the interval ends.
   */
  error(key: string, fields: Record<string, unknown>, message: string): void;
  warn(key: string, fields: Record<string, unknown>, message: string): void;
  /** Logs what is still counted and stops the interval timer. */
  close(): void;
}

/**
 * A full disk fails every request the same way; logging each with a stack wrote megabytes a
 * second. Each distinct error is logged once per interval, then summarized with its count.
 */
export function createLogThrottle(logger: Pick<Logger, 'error' | 'warn'>, options: { intervalMs?: number; now?: () => number } = {}): LogThrottle {
  const intervalMs = options.intervalMs ?? 10_000;
  const now = options.now ?? Date.now;
  const seen = new Map<string, { level: 'error' | 'warn'; since: number; repeats: number; message: string }>();
  let timer: NodeJS.Timeout | undefined;

  const summarize = (key: string, entry: { level: 'error' | 'warn'; since: number; repeats: number; message: string }) => {
    if (entry.repeats > 0) logger[entry.level]({ repeated: entry.repeats, sinceMs: now() - entry.since }, `${entry.message} (repeated ${entry.repeats} more times in ${Math.round((now() - entry.since) / 1000)}s)`);
    seen.delete(key);
  };
  const flush = (all: boolean) => {
    for (const [key, entry] of seen) if (all || now() - entry.since >= intervalMs) summarize(key, entry);
    if (seen.size === 0 && timer) {
      clearInterval(timer);
      timer = undefined;
    }
  };
  const log = (level: 'error' | 'warn') => (key: string, fields: Record<string, unknown>, message: string) => {
    const entry = seen.get(key);
    if (entry && now() - entry.since < intervalMs) {
      entry.repeats++;
      return;
    }
    if (entry) summarize(key, entry);
    logger[level](fields, message);
    seen.set(key, { level, since: now(), repeats: 0, message });
    if (!timer) {
      timer = setInterval(() => flush(false), intervalMs);
      timer.unref();
    }
  };
  return {
    error: log('error'),
    warn: log('warn'),
    close() {
      flush(true);
      if (timer) clearInterval(timer);
      timer = undefined;
    },
  };
}

/** What makes two errors "the same" for the throttle: their code and message, without numbers that vary. */
export function errorKey(context: string, error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  const cause = (error as { cause?: { code?: unknown } } | null)?.cause?.code;
  const message = error instanceof Error ? error.message : String(error);
  return `${context}|${String(code ?? '')}|${String(cause ?? '')}|${message.replace(/\d+/g, '#')}`;
}
