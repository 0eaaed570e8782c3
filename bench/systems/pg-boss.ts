/**
 * pg-boss on PostgreSQL. queue → one standard queue consumed by several fetch loops;
 * fifo → one queue with the `key_strict_fifo` policy, `singletonKey` = key (pg-boss's own
 * per-key order: a key's next job waits while one is active or retrying), fetched by
 * several loops whose batches hold at most one job per key; topic → pg-boss pub/sub:
 * `subscribe()` one `key_strict_fifo` queue per subscription, `publish()` every message
 * under one key, one sequential loop per subscription queue.
 */
import { PgBoss } from 'pg-boss';
import type { BenchEnv, BenchMessage, BenchSystem, ChannelSpec, SystemDescription } from './bench-system.js';
import { createHttpPoster, type HttpPoster } from '../lib/http-poster.js';
import { packageVersion } from '../lib/package-version.js';
import { createFreshDatabase, dropDatabase } from '../lib/postgres-admin.js';
import { startConsumerLoop, type ConsumerLoop } from './pg-boss-consumer.js';

const DATABASE = 'offload_bench_pg_boss';
const POOL_SIZE = 20;
/**
 * This many fetch loops, each taking `concurrency / FETCH_LOOPS` jobs per fetch, keep
 * `concurrency` in flight (fewer, larger fetches measured fastest here). A subscription
 * is one key, so its loop gets one job per fetch.
 */
const FETCH_LOOPS = 2;
const SEND_OPTIONS = { retryLimit: 4, retryDelay: 1, retryBackoff: true } as const;
/** Every event of a subscription shares one key, so the whole subscription is one FIFO lane. */
const SUBSCRIPTION_KEY = 'in-order';

interface Lane {
  readonly queue: string;
  readonly policy: 'standard' | 'key_strict_fifo';
  readonly path: string;
  readonly loops: number;
  readonly batchSize: number;
  readonly sequential: boolean;
}

function lanesFor(channel: ChannelSpec): Lane[] {
  if (channel.kind !== 'topic') {
    const loops = Math.min(FETCH_LOOPS, channel.concurrency);
    const batchSize = Math.max(1, Math.floor(channel.concurrency / loops));
    const policy = channel.kind === 'fifo' ? 'key_strict_fifo' : 'standard';
    return [{ queue: channel.name, policy, path: channel.path, loops, batchSize, sequential: false }];
  }
  return channel.subscriptions.map((sub) => ({
    queue: `${channel.name}.${sub.name}`, policy: 'key_strict_fifo', path: sub.path, loops: 1, batchSize: 1, sequential: true,
  }));
}

/** One at a time: each queue attaches a table partition, and parallel attaches deadlock. */
async function createQueues(boss: PgBoss, lanes: readonly Lane[]): Promise<void> {
  for (const lane of lanes) await boss.createQueue(lane.queue, { policy: lane.policy, ...SEND_OPTIONS });
}

/**
 * Ids that sort in insertion order. A batch is one INSERT whose rows share one
 * `created_on`, and `key_strict_fifo` breaks that tie by id, so random ids would
 * reorder a key's messages within a batch.
 */
function createOrderedIds(): () => string {
  const epoch = Date.now().toString(16).padStart(12, '0').slice(-12);
  let counter = 0;
  return () => {
    counter += 1;
    const tail = counter.toString(16).padStart(15, '0');
    return `${epoch.slice(0, 8)}-${epoch.slice(8)}-7${tail.slice(0, 3)}-8${tail.slice(3, 6)}-${tail.slice(6).padStart(12, '0')}`;
  };
}

function createPgBoss(): BenchSystem {
  let channel: ChannelSpec | undefined;
  let env: BenchEnv | undefined;
  let boss: PgBoss | undefined;
  let lanes: Lane[] = [];
  let loops: ConsumerLoop[] = [];
  let poster: HttpPoster | undefined;
  const nextId = createOrderedIds();

  function requireBoss(): PgBoss {
    if (!boss) throw new Error('setup has not run');
    return boss;
  }

  /** A fifo message's key, as pg-boss spells it. */
  function keyOf(message: BenchMessage): { singletonKey?: string } {
    return channel?.kind === 'fifo' ? { singletonKey: message.key ?? '' } : {};
  }

  return {
    name: 'pg-boss',
    describe(): SystemDescription {
      return {
        version: packageVersion('pg-boss'),
        settings: [
          `pool max ${POOL_SIZE}; queue and fifo: ${FETCH_LOOPS} fetch loops, batchSize concurrency/${FETCH_LOOPS}, a batch's jobs in parallel`,
          'fifo: policy key_strict_fifo, singletonKey = key; batch inserts carry time-ordered ids (a batch shares one created_on)',
          'topic: one loop per subscription queue, batchSize 1 (one key per subscription)',
          'consumers use fetch()/complete() in a loop with 10-500 ms idle backoff, not work() (see README)',
          'retryLimit 4 with backoff; schedule: false (no cron used)',
        ],
        mechanisms: {
          queue: 'one standard queue',
          fifo: 'one key_strict_fifo queue (singletonKey = key), loops fetch key heads in parallel',
          topic: 'pub/sub: subscribe() a key_strict_fifo queue per subscription, publish() per message under one key',
        },
        notes: [
          `pg-boss 12 declares Node >= 22.12; this run used Node ${process.versions.node}`,
          'publish() has no batch form; ordered topic batches are sent as one publish() per message',
        ],
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
      await createQueues(boss, lanes);
      if (spec.kind === 'topic') for (const lane of lanes) await boss.subscribe(spec.name, lane.queue);
      const connections = spec.kind === 'topic' ? spec.subscriptions.length : spec.concurrency;
      poster = createHttpPoster(benchEnv.receiverOrigin, connections);
    },
    async send(message) {
      if (channel?.kind === 'topic') {
        await requireBoss().publish(channel.name, message, { ...SEND_OPTIONS, singletonKey: SUBSCRIPTION_KEY });
        return;
      }
      await requireBoss().send(channel?.name ?? '', message, { ...SEND_OPTIONS, ...keyOf(message) });
    },
    async sendBatch(messages) {
      if (channel?.kind === 'topic') {
        // One statement stamps its rows with one created_on and pg-boss then orders them
        // by random id, so ordered subscriptions get one publish per message.
        for (const message of messages) await requireBoss().publish(channel.name, message, { ...SEND_OPTIONS, singletonKey: SUBSCRIPTION_KEY });
        return;
      }
      await requireBoss().insert(channel?.name ?? '', messages.map((data) => ({ id: nextId(), data, ...SEND_OPTIONS, ...keyOf(data) })));
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
      await boss?.stop({ graceful: false, close: true, timeout: 5_000 }).catch(() => undefined);
      await poster?.close();
      if (env) await dropDatabase(env.postgresAdminUrl, DATABASE);
    },
  };
}

export default createPgBoss;
