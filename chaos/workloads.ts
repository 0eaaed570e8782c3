import type { TargetExpectation } from '../src/testing/index.js';

/**
 * The channels a chaos run drives, one per workload, and the receiver paths their deliveries
 * arrive at. Everything else (config, producers, operator, checker) is derived from this.
 */
export const QUEUE = 'jobs';
export const FIFO = 'steps';
export const TOPIC = 'events';
export const PROJECTOR = 'projector';
export const BILLING = 'billing';

export type Workload = 'queue' | 'fifo' | 'topic';

export const WORKLOADS: readonly Workload[] = ['queue', 'fifo', 'topic'];

export const CHANNEL_OF: Readonly<Record<Workload, string>> = { queue: QUEUE, fifo: FIFO, topic: TOPIC };

/** What the history checker expects at each receiver path. */
export const TARGETS: readonly TargetExpectation[] = [
  { target: `/${QUEUE}`, channel: QUEUE, ordering: 'none' },
  { target: `/${FIFO}`, channel: FIFO, ordering: 'key' },
  { target: `/${PROJECTOR}`, channel: TOPIC, ordering: 'topic' },
  { target: `/${BILLING}`, channel: TOPIC, ordering: 'key' },
];

/** Offload's name for the delivery target behind each receiver path (as in `GET /v1/messages/{id}`). */
export const OFFLOAD_TARGET: Readonly<Record<string, string>> = {
  [`/${QUEUE}`]: QUEUE,
  [`/${FIFO}`]: FIFO,
  [`/${PROJECTOR}`]: `${TOPIC}/${PROJECTOR}`,
  [`/${BILLING}`]: `${TOPIC}/${BILLING}`,
};

/** Producer-facing API paths. */
export function sendPath(workload: Workload, batch: boolean): string {
  const base = workload === 'topic' ? `/v1/topics/${TOPIC}/messages` : `/v1/queues/${CHANNEL_OF[workload]}/messages`;
  return batch ? `${base}/batch` : base;
}
