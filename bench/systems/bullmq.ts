/**
 * BullMQ on Redis. Each channel kind maps onto plain queues and workers:
 * queue → one queue, one worker with `concurrency`; fifo → a queue per key, each with
 * a concurrency-1 worker (per-key groups are a BullMQ Pro feature); topic → a queue
 * per subscription with a concurrency-1 worker, every publish added to each of them.
 */
import { Queue, Worker, type Job, type JobsOptions } from 'bullmq';
import { Redis } from 'ioredis';
import type { BenchEnv, BenchMessage, BenchSystem, ChannelSpec, SystemDescription } from './bench-system.js';
import { createHttpPoster, type HttpPoster } from '../lib/http-poster.js';
import { packageVersion } from '../lib/package-version.js';

interface Lane {
  readonly queue: Queue;
  readonly path: string;
  readonly concurrency: number;
}

/** Completed jobs are removed, as BullMQ recommends for high volume; failures retry like the others. */
const JOB_OPTIONS: JobsOptions = {
  removeOnComplete: true,
  removeOnFail: 1000,
  attempts: 5,
  backoff: { type: 'exponential', delay: 1000 },
};

const MAX_SCAN_ROUNDS = 100_000;

function lanesFor(channel: ChannelSpec, prefix: string, connection: Redis): Map<string, Lane> {
  const lanes = new Map<string, Lane>();
  const add = (id: string, path: string, concurrency: number): void => {
    lanes.set(id, { queue: new Queue(`${channel.name}-${id}`, { connection, prefix }), path, concurrency });
  };
  if (channel.kind === 'queue') add('all', channel.path, channel.concurrency);
  if (channel.kind === 'fifo') for (const key of channel.keys) add(key, channel.path, 1);
  if (channel.kind === 'topic') for (const sub of channel.subscriptions) add(sub.name, sub.path, 1);
  return lanes;
}

/** Removes everything this case stored; the prefix carries the case's run tag. */
async function deleteKeys(redisUrl: string, prefix: string): Promise<void> {
  const client = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await client.connect();
    let cursor = '0';
    for (let round = 0; round < MAX_SCAN_ROUNDS; round += 1) {
      const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      if (keys.length > 0) await client.unlink(...keys);
      cursor = next;
      if (cursor === '0') return;
    }
  } finally {
    client.disconnect();
  }
}

function createBullmq(): BenchSystem {
  let channel: ChannelSpec | undefined;
  let prefix = '';
  let redisUrl = '';
  let client: Redis | undefined;
  let lanes = new Map<string, Lane>();
  let workers: Worker[] = [];
  let poster: HttpPoster | undefined;

  function laneFor(message: BenchMessage): Lane[] {
    if (channel?.kind === 'topic') return [...lanes.values()];
    const lane = lanes.get(channel?.kind === 'fifo' ? (message.key ?? '') : 'all');
    if (!lane) throw new Error(`no queue for message ${message.id}`);
    return [lane];
  }

  return {
    name: 'bullmq',
    describe(): SystemDescription {
      return {
        version: packageVersion('bullmq'),
        settings: [
          'Worker concurrency = channel concurrency (queue), 1 (fifo, topic)',
          'removeOnComplete: true, removeOnFail: 1000, attempts: 5 with exponential backoff',
          'one shared Redis connection for queues; BullMQ adds a blocking connection per worker',
        ],
        mechanisms: {
          queue: 'one queue, one Worker',
          fifo: 'queue per key, one Worker with concurrency 1 each (groups are BullMQ Pro only)',
          topic: 'queue per subscription with a concurrency-1 Worker; a publish is one add per queue',
        },
        notes: ['Redis persistence as configured on this machine (see the machine section)'],
      };
    },
    async setup(spec: ChannelSpec, env: BenchEnv) {
      channel = spec;
      prefix = `obench-${env.runTag}`;
      redisUrl = env.redisUrl;
      // BullMQ's documented setup: one ioredis connection shared by queues and workers
      // (maxRetriesPerRequest: null), duplicated by each worker for its blocking reads.
      client = new Redis(env.redisUrl, { maxRetriesPerRequest: null });
      lanes = lanesFor(spec, prefix, client);
      const connections = spec.kind === 'topic' ? spec.subscriptions.length : spec.concurrency;
      poster = createHttpPoster(env.receiverOrigin, connections);
    },
    async send(message) {
      await Promise.all(laneFor(message).map((lane) => lane.queue.add('deliver', message, JOB_OPTIONS)));
    },
    async sendBatch(messages) {
      if (channel?.kind === 'fifo') {
        // One job per key queue in this batch: addBulk has nothing to group here.
        await Promise.all(messages.map((m) => laneFor(m)[0]?.queue.add('deliver', m, JOB_OPTIONS)));
        return;
      }
      const jobs = messages.map((data) => ({ name: 'deliver', data, opts: JOB_OPTIONS }));
      await Promise.all([...lanes.values()].map((lane) => lane.queue.addBulk(jobs)));
    },
    async start() {
      const post = poster;
      if (!client || !post) throw new Error('setup has not run');
      for (const lane of lanes.values()) {
        const processor = (job: Job<BenchMessage>): Promise<void> => post.post(lane.path, job.data);
        const worker = new Worker(lane.queue.name, processor, {
          connection: client, prefix, concurrency: lane.concurrency, autorun: false,
        });
        worker.on('error', () => undefined);
        workers.push(worker);
        void worker.run().catch(() => undefined);
      }
    },
    async stop() {
      await Promise.all(workers.map((w) => w.close()));
      workers = [];
    },
    async teardown() {
      await Promise.all(workers.map((w) => w.close(true)));
      workers = [];
      await Promise.all([...lanes.values()].map((lane) => lane.queue.close()));
      client?.disconnect();
      await poster?.close();
      if (redisUrl) await deleteKeys(redisUrl, prefix);
    },
  };
}

export default createBullmq;
