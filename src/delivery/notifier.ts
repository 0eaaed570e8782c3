import type { Logger } from 'pino';
import type { OffloadConfig } from '../config/load.js';
import type { Clock } from '../domain/clock.js';
import { createUnderWay } from '../domain/under-way.js';
import type { Store } from '../storage/port.js';
import type { DeliveryEvent } from './dispatcher.js';

const TYPES = {
  delivered: 'offload.message.delivered',
  deadlettered: 'offload.message.deadlettered',
  stalled: 'offload.subscription.stalled',
  parked: 'offload.key.parked',
} as const;

/**
 * Turns delivery events into notifications for the configured `onDelivered`, `onDeadLettered`
 * and `onStalled` endpoints. Each notification is a message on an internal queue, so it is
 * stored durably, signed, retried and dead-lettered like any other delivery.
 */
export interface Notifier {
  notify(event: DeliveryEvent): void;
  /** Resolves once every notification asked for so far has been stored (or failed to be). */
  settled(): Promise<void>;
}

export function createNotifier(config: OffloadConfig, store: Store, wake: (targets: string[]) => void, clock: Clock, logger: Logger): Notifier {
  const storing = createUnderWay();
  const notify = (event: DeliveryEvent): void => {
    const routes = config.notifications.get(event.target);
    if (!routes) return;
    const queue =
      event.type === 'delivered' ? routes.onDelivered
      : event.type === 'deadlettered' ? routes.onDeadLettered
      : (event.type === 'stalled' || event.type === 'parked') && event.newlyBlocked ? routes.onStalled
      : undefined;
    if (!queue) return;
    const type = TYPES[event.type as keyof typeof TYPES];
    const data = { target: event.target, key: event.lane || null, messageIds: event.ids, attempt: event.attempt, reason: event.reason ?? null, statusCode: event.statusCode ?? null, at: new Date(clock.now()).toISOString() };
    // One id per occurrence: the lease epoch tells a second dead-lettering after a redrive (whose
    // attempts count from 1 again) from the first; an expiry has no lease, its time tells it.
    const id = `${type}:${event.target}:${event.ids[0]}:${event.attempt}:${event.epoch ?? `t${clock.now()}`}`;
    const stored = store.send(queue, [{ id, key: null, type, data: JSON.stringify(data), metadata: {}, deliverAt: null }]).then(
      () => wake([queue]),
      (error: unknown) => logger.warn({ err: error, queue, type }, 'could not store a notification'),
    );
    void storing.track(stored);
  };
  return {
    notify,
    settled: () => storing.settled(),
  };
}
