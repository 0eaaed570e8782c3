import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { createClient, type DrainOptions, type DrainResult, type OffloadClient } from '../client/index.js';
import { buildConfig } from '../config/load.js';
import type { ConfigInput } from '../config/schema.js';
import { createOffload, type Offload } from '../offload.js';

/** The configuration of a test Offload: storage, port and drain are chosen for the test. */
export type TestOffloadConfig = Omit<ConfigInput, 'storage' | 'testing' | 'server'> & {
  server?: Omit<NonNullable<ConfigInput['server']>, 'port'>;
};

export interface TestOffloadOptions {
  /** Offload's own log level. Default `OFFLOAD_LOG_LEVEL`, else `silent`. */
  logLevel?: string;
  /** API key the client sends (an operator key, when the configuration has `server.apiKeys`). */
  apiKey?: string;
  /**
   * How long drain() waits unless told otherwise. Default `4s`: shorter than a test runner's
   * usual 5 s test timeout, so a stuck drain fails with what is stuck rather than a bare timeout.
   */
  drainTimeout?: string | number;
}

export interface TestOffload {
  /** Base URL of the API, on a free loopback port. */
  url: string;
  /** A client for that URL. */
  client: OffloadClient;
  /** The running service (store, dispatcher, live events), for tests that look inside. */
  offload: Offload;
  /** The temporary folder holding the SQLite file; removed by close(). */
  dir: string;
  /**
   * Delivers everything due now (POST /v1/drain) and resolves with what is left and why. Rejects
   * with DrainIncompleteError when the drain stops early (its timeout, by default `drainTimeout`,
   * or its round limit).
   */
  drain(options?: DrainOptions): Promise<DrainResult>;
  /** Stops Offload (in-flight calls get a short grace) and removes the temporary files. Idempotent. */
  close(): Promise<void>;
}

/** A drain that ran out of time or rounds; `result` says what was still due or in flight. */
export class DrainIncompleteError extends Error {
  constructor(readonly result: DrainResult) {
    const busy = result.undelivered.filter((u) => u.reason === 'due' || u.reason === 'in-flight');
    const listed = busy.slice(0, 10).map((u) => `${u.target} ${u.id} (${u.reason}${u.lastError ? `: ${u.lastError}` : ''})`).join(', ');
    super(`drain stopped by its ${result.stoppedBy === 'rounds' ? 'round limit' : 'timeout'} after ${result.rounds} round(s) and ${result.elapsedMs}ms; still due or in flight: ${listed || 'none listed'}${busy.length > 10 ? ', …' : ''}`);
    this.name = 'DrainIncompleteError';
  }
}

/** Variables that would point Offload at another store or port; a test Offload ignores them. */
const OVERRIDING_ENV = ['OFFLOAD_PORT', 'OFFLOAD_HOST', 'OFFLOAD_SQLITE_PATH', 'OFFLOAD_DATABASE_URL'];

/**
 * Starts Offload in this process for a test suite: a temporary SQLite file, the API on a free
 * loopback port, drain enabled. Point its endpoints at the API under test (or a receiver), send
 * work through the API under test, `await drain()`, then assert on what the endpoints saw.
 */
export async function startTestOffload(config: TestOffloadConfig, options: TestOffloadOptions = {}): Promise<TestOffload> {
  // From JavaScript (no types to stop it) a store or a port would be silently replaced: say so instead.
  const drainTimeout = options.drainTimeout;
  if (drainTimeout !== undefined && !(typeof drainTimeout === 'string' || (Number.isFinite(drainTimeout) && drainTimeout > 0))) {
    throw new TypeError(`drainTimeout must be a duration like '4s' or a number of milliseconds above 0, not ${String(drainTimeout)}`);
  }
  const given = config as { storage?: unknown; testing?: { drain?: unknown } };
  if (given.storage !== undefined) throw new TypeError('startTestOffload sets storage itself (a SQLite file in a temporary folder): leave storage out of its configuration');
  if (given.testing !== undefined && !(given.testing.drain === undefined || given.testing.drain === true)) {
    throw new TypeError('startTestOffload turns testing.drain on itself: leave testing out of its configuration');
  }
  const server = (config.server ?? {}) as { port?: unknown; host?: unknown };
  if (server.port !== undefined && server.port !== 0) throw new TypeError('startTestOffload listens on a free loopback port (read it from url): leave server.port out of its configuration');
  if (server.host !== undefined && !['127.0.0.1', 'localhost', '::1'].includes(String(server.host))) {
    throw new TypeError(`startTestOffload listens on loopback only (its drain is open to whoever reaches it): leave server.host out, not ${String(server.host)}`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'offload-test-'));
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !OVERRIDING_ENV.includes(name)));
  let offload: Offload;
  try {
    const built = buildConfig(
      {
        ...config,
        server: { host: '127.0.0.1', ...config.server, port: 0 },
        // A test's in-flight calls need not finish before it ends: they are released, not lost.
        delivery: { shutdownGrace: '250ms', ...config.delivery },
        storage: { sqlite: { path: join(dir, 'offload.db'), durability: 'process' } },
        testing: { drain: true },
      },
      { source: 'startTestOffload', env },
    );
    offload = await createOffload(built, { logger: pino({ level: options.logLevel ?? process.env.OFFLOAD_LOG_LEVEL ?? 'silent' }) });
    await offload.start();
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  const client = createClient({ url: offload.url, ...(options.apiKey ? { apiKey: options.apiKey } : {}) });
  let closing: Promise<void> | undefined;
  return {
    url: offload.url,
    client,
    offload,
    dir,
    async drain(drainOptions) {
      const result = await client.drain({ timeout: options.drainTimeout ?? '4s', ...drainOptions });
      if (!result.complete) throw new DrainIncompleteError(result);
      return result;
    },
    close() {
      closing ??= offload.stop().finally(() => rmSync(dir, { recursive: true, force: true }));
      return closing;
    },
  };
}
