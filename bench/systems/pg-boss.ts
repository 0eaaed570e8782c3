/**
 * pg-boss on PostgreSQL. queue → one queue consumed by several fetch loops;
 * fifo → a queue per key with one sequential loop each (the only pg-boss mechanism
 * that guarantees both one-in-flight and order per key, see bench/README.md);
 * topic → pg-boss pub/sub: `subscribe()` one queue per subscription, `publish()` per
 * message, one sequential loop per subscription queue.
 */
import PgBoss from 'pg-boss';
import type { BenchEnv, BenchMessage, BenchSystem, ChannelSpec, SystemDescription } from './bench-system.js';
import { createHttpPoster, type HttpPoster } from '../lib/http-poster.js';
import { packageVersion } from '../lib/package-version.js';
import { createFreshDatabase, dropDatabase } from '../lib/postgres-admin.js';
import { startConsumerLoop, type ConsumerLoop } from './pg-boss-consumer.js';

const DATABASE = 'offload_bench_pg_boss';
const POOL_SIZE = 20;
/**
 * Unordered queues: this many fetch loops, each taking `concurrency / FETCH_LOOPS` jobs
 * per fetch, keep `concurrency` in flight (fewer, larger fetches measured fastest here).
 * Ordered lanes fetch one job at a time: a batch fetch returns its jobs in no
 * particular order (they come from `UPDATE … RETURNING`), which the checks catch.
 */
const FETCH_LOOPS = 2;
const SEND_OPTIONS = { retryLimit: 4, retryDelay: 1, retryBackoff: true } as const;

interface Lane {
  readonly queue: string;
  readonly path: string;
  readonly loops: number;
  readonly batchSize: number;
  readonly sequential: boolean;
}

function lanesFor(channel: ChannelSpec): Lane[] {
  if (channel.kind === 'queue') {
    const loops = Math.min(FETCH_LOOPS, channel.concurrency);
    const batchSize = Math.max(1, Math.floor(channel.concurrency / loops));
    return [{ queue: channel.name, path: channel.path, loops, batchSize, sequential: false }];
  }
  if (channel.kind === 'fifo') {
    return channel.keys.map((key) => ({
      queue: `${channel.name}.${key}`, path: channel.path, loops: 1, batchSize: 1, sequential: true,
    }));
  }
  return channel.subscriptions.map((sub) => ({
    queue: `${channel.name}.${sub.name}`, path: sub.path, loops: 1, batchSize: 1, sequential: true,
  }));
}

/** One at a time: each queue attaches a table partition, and parallel attaches deadlock. */
async function createQueues(boss: PgBoss, names: readonly string[]): Promise<void> {
  for (const name of names) await boss.createQueue(name, { name, ...SEND_OPTIONS });
}

function createPgBoss(): BenchSystem {
  let channel: ChannelSpec | undefined;
  let env: BenchEnv | undefined;
  let boss: PgBoss | undefined;
  let lanes: Lane[] = [];
  let loops: ConsumerLoop[] = [];
  let poster: HttpPoster | undefined;

  function requireBoss(): PgBoss {
    if (!boss) throw new Error('setup has not run');
    return boss;
  }

  function queueOf(message: BenchMessage): string {
    if (channel?.kind === 'fifo') return `${channel.name}.${message.key ?? ''}`;
    return channel?.name ?? '';
  }

  return {
    name: 'pg-boss',
    describe(): SystemDescription {
      return {
        version: packageVersion('pg-boss'),
        settings: [
          `pool max ${POOL_SIZE}; queue: ${FETCH_LOOPS} fetch loops, batchSize concurrency/${FETCH_LOOPS}, a batch's jobs in parallel`,
          'fifo and topic lanes: one loop per queue, batchSize 1 (batch fetches come back unordered)',
          'consumers use fetch()/complete() in a loop with 10-500 ms idle backoff, not work() (see README)',
          'policy standard, retryLimit 4 with backoff; schedule: false (no cron used)',
        ],
        mechanisms: {
          queue: 'one standard queue',
          fifo: 'queue per key, one sequential consumer loop each (batchSize 1)',
          topic: 'pub/sub: subscribe() a queue per subscription, publish() per message, one sequential loop each',
        },
        notes: ['insert() has no ordered publish; ordered topic batches are sent as one publish() per message'],
      };
    },
    async setup(spec, benchEnv) {
      channel = spec;
      env = benchEnv;
      const connectionString = await createFreshDatabase(benchEnv.postgresAdminUrl, DATABASE);
      boss = new PgBoss({ connectionString, max: POOL_SIZE, schedule: false });
      boss.on('error', (error: Error) => benchEnv.log(`pg-boss: ${error.message}`));
      await boss.start();
      lanes = lanesFor(spec);
      await createQueues(boss, lanes.map((l) => l.queue));
      if (spec.kind === 'topic') for (const lane of lanes) await boss.subscribe(spec.name, lane.queue);
      const connections = spec.kind === 'topic' ? spec.subscriptions.length : spec.concurrency;
      poster = createHttpPoster(benchEnv.receiverOrigin, connections);
    },
    async send(message) {
      if (channel?.kind === 'topic') await requireBoss().publish(channel.name, message, SEND_OPTIONS);
      else await requireBoss().send(queueOf(message), message, SEND_OPTIONS);
    },
    async sendBatch(messages) {
      if (channel?.kind === 'topic') {
        // One statement stamps its rows with one created_on and pg-boss then orders them
        // by random id, so ordered subscriptions get one publish per message.
        for (const message of messages) await requireBoss().publish(channel.name, message, SEND_OPTIONS);
        return;
      }
      await requireBoss().insert(messages.map((data) => ({ name: queueOf(data), data, ...SEND_OPTIONS })));
    },
    async start() {
      const b = requireBoss();
      const post = poster;
      if (!post) throw new Error('setup has not run');
      for (const lane of lanes) {
        for (let i = 0; i < lane.loops; i += 1) {
          loops.push(startConsumerLoop(b, { ...lane, handle: (m) => post.post(lane.path, m) }));
        }
      }
    },
    async stop() {
      await Promise.all(loops.map((l) => l.stop()));
      loops = [];
    },
    async teardown() {
      await Promise.all(loops.map((l) => l.stop()));
      loops = [];
      await boss?.stop({ graceful: false, close: true, wait: true, timeout: 5_000 }).catch(() => undefined);
      await poster?.close();
      if (env) await dropDatabase(env.postgresAdminUrl, DATABASE);
    },
  };
}

export default createPgBoss;
