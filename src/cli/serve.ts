import { pino } from 'pino';
import type { OffloadConfig } from '../config/load.js';
import { createOffload, describeStore } from '../offload.js';
import { VERSION } from '../server/app.js';

/** Runs Offload until SIGTERM/SIGINT, then stops gracefully (in-flight calls finish, the rest is released). */
export async function serve(config: OffloadConfig): Promise<void> {
  const logger = pino({ level: process.env.OFFLOAD_LOG_LEVEL ?? 'info' });
  const offload = await createOffload(config, { logger });
  await offload.start();
  const counts = `${config.queues.size} queue(s), ${config.topics.size} topic(s), ${config.targets.length} delivery target(s)`;
  const drain = config.testing.drain ? ' | DRAIN ENABLED (testing.drain: POST /v1/drain; for test setups only)' : '';
  logger.info({ url: offload.url, config: config.source, store: describeStore(config), instance: offload.instanceId, drain: config.testing.drain }, `Offload ${VERSION} listening on ${offload.url} | config ${config.source} | store ${describeStore(config)} | ${counts}${drain}`);
  if (config.testing.drain) logger.warn('testing.drain is on: POST /v1/drain delivers every due message on demand; never enable it in production');
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal, inFlight: offload.dispatcher.inFlight() }, `${signal}: finishing in-flight deliveries (up to ${config.delivery.shutdownGrace}ms), then exiting`);
    offload.stop().then(
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
}
