/**
 * graphile-worker on PostgreSQL. queue → jobs without a queue name; fifo → job queue
 * name = key (jobs of one named queue run in series, in id order); topic → one job
 * per subscription per publish, each in that subscription's named queue. Batches go
 * through the `graphile_worker.add_jobs()` SQL function: one statement per batch.
 */
import pg from 'pg';
import { Logger, makeWorkerUtils, run, runMigrations, type Runner, type TaskList, type WorkerUtils } from 'graphile-worker';
import type { BenchEnv, BenchMessage, BenchSystem, ChannelSpec, SystemDescription } from './bench-system.js';
import { createHttpPoster, type HttpPoster } from '../lib/http-poster.js';
import { packageVersion } from '../lib/package-version.js';
import { createFreshDatabase, dropDatabase } from '../lib/postgres-admin.js';

const DATABASE = 'offload_bench_graphile_worker';
const MAX_ATTEMPTS = 5;
/** LISTEN/NOTIFY wakes idle workers; polling is only the fallback. */
const POLL_INTERVAL_MS = 1000;

interface JobSpec {
  identifier: string;
  /** An array makes a graphile-worker batch job: one row, failures retried per entry. */
  payload: BenchMessage | BenchMessage[];
  queue_name: string | null;
  max_attempts: number;
}

const ADD_JOBS_SQL = `
  select count(*) from graphile_worker.add_jobs(
    array(select json_populate_record(null::graphile_worker.job_spec, spec)
          from json_array_elements($1::json) as spec))`;

/** Task identifier and named queue for each delivery lane of a channel. */
function lanesFor(channel: ChannelSpec): Array<{ task: string; path: string }> {
  if (channel.kind === 'topic') return channel.subscriptions.map((s) => ({ task: `deliver_${s.name}`, path: s.path }));
  return [{ task: 'deliver', path: channel.path }];
}

function jobsFor(channel: ChannelSpec, message: BenchMessage): JobSpec[] {
  const base = { payload: message, max_attempts: MAX_ATTEMPTS };
  if (channel.kind === 'queue') return [{ ...base, identifier: 'deliver', queue_name: null }];
  if (channel.kind === 'fifo') return [{ ...base, identifier: 'deliver', queue_name: `${channel.name}:${message.key ?? ''}` }];
  return channel.subscriptions.map((s) => ({ ...base, identifier: `deliver_${s.name}`, queue_name: `${channel.name}:${s.name}` }));
}

/**
 * A batch becomes one batch job per lane (fifo batches hold one message per key, so
 * they stay one job per message).
 */
function batchJobsFor(channel: ChannelSpec, messages: BenchMessage[]): JobSpec[] {
  const base = { payload: messages, max_attempts: MAX_ATTEMPTS };
  if (channel.kind === 'queue') return [{ ...base, identifier: 'deliver', queue_name: null }];
  if (channel.kind === 'fifo') return messages.flatMap((m) => jobsFor(channel, m));
  return channel.subscriptions.map((s) => ({ ...base, identifier: `deliver_${s.name}`, queue_name: `${channel.name}:${s.name}` }));
}

type Post = (message: BenchMessage) => Promise<void>;

/** Settled promises for graphile-worker's batch-job accounting, marked handled here. */
function settled(promise: Promise<void>): Promise<void> {
  promise.catch(() => undefined);
  return promise;
}

/**
 * An ordered lane's batch goes one message after another; after a failure the rest
 * are failed too, so that graphile-worker retries them, still in order, as a new job.
 */
async function deliverInOrder(messages: readonly BenchMessage[], post: Post): Promise<Promise<void>[]> {
  const results: Promise<void>[] = [];
  let failure: unknown;
  for (const message of messages) {
    if (failure === undefined) {
      try {
        await post(message);
      } catch (error) {
        failure = error;
      }
    }
    results.push(settled(failure === undefined ? Promise.resolve() : Promise.reject(failure)));
  }
  return results;
}

function taskFor(ordered: boolean, post: Post) {
  return async (payload: unknown): Promise<void | Promise<void>[]> => {
    if (!Array.isArray(payload)) return post(payload as BenchMessage);
    const messages = payload as BenchMessage[];
    return ordered ? deliverInOrder(messages, post) : messages.map((m) => settled(post(m)));
  };
}

function concurrencyOf(channel: ChannelSpec): number {
  return channel.kind === 'topic' ? channel.subscriptions.length : channel.concurrency;
}

/**
 * Workers hold a connection only while fetching or completing a job, not while the
 * task runs, so the pool need not match concurrency; the cap keeps a run within the
 * server's max_connections on a shared machine.
 */
const MAX_POOL = 34;

function poolSizeFor(channel: ChannelSpec): number {
  return Math.min(concurrencyOf(channel) + 2, MAX_POOL);
}

/**
 * Producers get their own pool, as an API host would: sharing the workers' pool made
 * sends queue behind the workers' own queries and showed up as seconds of latency.
 */
const PRODUCER_POOL = 16;

function quietLogger(env: BenchEnv): Logger {
  return new Logger(() => (level, message) => {
    if (level === 'error') env.log(`graphile-worker: ${message}`);
  });
}

/** graphile-worker asks for error handlers on the pool and on each of its clients. */
function watched(pool: pg.Pool, name: string, env: BenchEnv): pg.Pool {
  const log = (error: Error): void => env.log(`graphile-worker ${name}: ${error.message}`);
  pool.on('error', log);
  pool.on('connect', (client) => client.on('error', log));
  return pool;
}

function createGraphileWorker(): BenchSystem {
  let channel: ChannelSpec | undefined;
  let env: BenchEnv | undefined;
  let pool: pg.Pool | undefined;
  let producerPool: pg.Pool | undefined;
  let utils: WorkerUtils | undefined;
  let runner: Runner | undefined;
  let poster: HttpPoster | undefined;

  async function addJobs(jobs: JobSpec[]): Promise<void> {
    if (!producerPool) throw new Error('setup has not run');
    await producerPool.query(ADD_JOBS_SQL, [JSON.stringify(jobs)]);
  }

  /** A single job goes through the library's own addJob(); several (a publish) in one statement. */
  async function addOne(message: BenchMessage): Promise<void> {
    const [job, ...more] = jobsFor(requireChannel(), message);
    if (!utils || !job) throw new Error('setup has not run');
    if (more.length > 0) return addJobs([job, ...more]);
    const queueName = job.queue_name ?? undefined;
    await utils.addJob(job.identifier, job.payload, { queueName, maxAttempts: job.max_attempts });
  }

  function requireChannel(): ChannelSpec {
    if (!channel) throw new Error('setup has not run');
    return channel;
  }

  return {
    name: 'graphile-worker',
    describe(): SystemDescription {
      return {
        version: packageVersion('graphile-worker'),
        settings: [
          'concurrency = channel concurrency (topics: one per subscription)',
          `worker pg pool max min(concurrency + 2, ${MAX_POOL}); producers: own pool of ${PRODUCER_POOL}`,
          'send: WorkerUtils.addJob() (a topic publish: its jobs in one add_jobs() statement)',
          `pollInterval ${POLL_INTERVAL_MS} ms (new jobs wake workers through LISTEN/NOTIFY)`,
          'sendBatch: one batch job (array payload) per lane through graphile_worker.add_jobs(); ' +
            'unordered entries delivered in parallel, ordered ones in sequence',
          `in-flight deliveries capped at the channel concurrency by the HTTP pool; max_attempts ${MAX_ATTEMPTS}`,
        ],
        mechanisms: {
          queue: 'jobs without a queue name, worker concurrency = channel concurrency',
          fifo: 'queueName = key (a named job queue runs one job at a time, in order)',
          topic: 'one job per subscription per publish, queueName = subscription (serial)',
        },
        notes: [`graphile-worker 0.18 declares Node >= 22.18; this run used Node ${process.versions.node}`],
      };
    },
    async setup(spec, benchEnv) {
      channel = spec;
      env = benchEnv;
      const connectionString = await createFreshDatabase(benchEnv.postgresAdminUrl, DATABASE);
      pool = watched(new pg.Pool({ connectionString, max: poolSizeFor(spec) }), 'pool', benchEnv);
      await runMigrations({ pgPool: pool, logger: quietLogger(benchEnv) });
      producerPool = watched(new pg.Pool({ connectionString, max: PRODUCER_POOL }), 'producer pool', benchEnv);
      utils = await makeWorkerUtils({ pgPool: producerPool, logger: quietLogger(benchEnv) });
      poster = createHttpPoster(benchEnv.receiverOrigin, concurrencyOf(spec));
    },
    async send(message) {
      await addOne(message);
    },
    async sendBatch(messages) {
      const c = requireChannel();
      await addJobs(batchJobsFor(c, [...messages]));
    },
    async start() {
      const post = poster;
      if (!pool || !env || !post) throw new Error('setup has not run');
      const taskList: TaskList = {};
      const ordered = requireChannel().kind !== 'queue';
      for (const lane of lanesFor(requireChannel())) {
        taskList[lane.task] = taskFor(ordered, (m) => post.post(lane.path, m));
      }
      runner = await run({
        pgPool: pool,
        taskList,
        concurrency: concurrencyOf(requireChannel()),
        pollInterval: POLL_INTERVAL_MS,
        noHandleSignals: true,
        logger: quietLogger(env),
      });
    },
    async stop() {
      await runner?.stop();
      runner = undefined;
    },
    async teardown() {
      await runner?.stop().catch(() => undefined);
      runner = undefined;
      await Promise.resolve(utils?.release()).catch(() => undefined);
      await producerPool?.end().catch(() => undefined);
      await pool?.end().catch(() => undefined);
      await poster?.close();
      if (env) await dropDatabase(env.postgresAdminUrl, DATABASE);
    },
  };
}

export default createGraphileWorker;
