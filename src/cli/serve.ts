import { pino } from 'pino';
import type { OffloadConfig } from '../config/load.js';
import { createOffload, describeStore } from '../offload.js';
import { VERSION } from '../server/app.js';

/** After a signal, how long past `shutdownGrace` the process waits for a clean stop before it exits anyway. */
const STOP_MARGIN_MS = 10_000;

/**
 * Logs go to stdout with synchronous writes. The asynchronous default flushes at exit in a
 * loop that retries a write refused with EPIPE forever, so `offload serve | head` never
 * exited after a signal; a synchronous write reports EPIPE at once, and pino then stops
 * logging to the closed pipe.
 */
function stdoutLogger() {
  return pino({ level: process.env.OFFLOAD_LOG_LEVEL ?? 'info' }, pino.destination({ fd: 1, sync: true }));
}

/** Runs Offload until SIGTERM/SIGINT, then stops gracefully (in-flight calls finish, the rest is released). */
export async function serve(config: OffloadConfig): Promise<void> {
  const logger = stdoutLogger();
  const offload = await createOffload(config, { logger });
  let stopping = false;
  // Handlers go in before anything is announced: until a process listens for a signal, the
  // kernel's default for SIGTERM ends it on the spot, with no graceful stop.
  let starting: Promise<void> = Promise.resolve();
  const shutdown = (signal: string) => {
    if (stopping) {
      // A second signal means the operator does not want to wait for in-flight calls.
      logger.warn({ signal }, `${signal} again: exiting now`);
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal, inFlight: offload.dispatcher.inFlight() }, `${signal}: finishing in-flight deliveries (up to ${config.delivery.shutdownGrace}ms), then exiting`);
    // Whatever happens to the stop (a store that never answers), the process ends.
    setTimeout(() => {
      logger.error('could not stop cleanly in time; exiting');
      process.exit(1);
    }, config.delivery.shutdownGrace + STOP_MARGIN_MS).unref();
    starting
      .catch(() => undefined)
      .then(() => offload.stop())
      .then(
        () => {
          logger.info('stopped cleanly');
          process.exit(0);
        },
        (error: unknown) => {
          logger.error({ err: error }, 'error while stopping');
          process.exit(1);
        },
      );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  starting = offload.start();
  await starting;
  if (stopping) return;
  const counts = `${config.queues.size} queue(s), ${config.topics.size} topic(s), ${config.targets.length} delivery target(s)`;
  const dashboard = `${offload.url}/dashboard`;
  const drain = config.testing.drain ? ' | DRAIN ENABLED (testing.drain: POST /v1/drain; for test setups only)' : '';
  logger.info(
    { url: offload.url, dashboard, config: config.source, store: describeStore(config), instance: offload.instanceId, drain: config.testing.drain },
    `Offload ${VERSION} listening on ${offload.url} | dashboard ${dashboard} | config ${config.source} | store ${describeStore(config)} | ${counts}${drain}`,
  );
  if (config.testing.drain) logger.warn('testing.drain is on: POST /v1/drain delivers every due message on demand; never enable it in production');
  const open = openApiWarning(config.server);
  if (open) logger.warn(open);
}

/** The warning for an API without keys that listens beyond loopback, or null. */
export function openApiWarning(server: { host: string; apiKeys: readonly unknown[] }): string | null {
  const loopback = server.host === 'localhost' || server.host === '::1' || /^127\./.test(server.host);
  if (server.apiKeys.length > 0 || loopback) return null;
  return `the API listens on ${server.host} with no API keys: anyone who can reach it can send, read, redrive and purge; configure server.apiKeys, or listen on 127.0.0.1`;
}
