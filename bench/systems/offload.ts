/**
 * Offload itself, run in the host process (so the host's RSS is Offload's): the composition
 * root with its HTTP API on 127.0.0.1:0, driven through that API like any producer would.
 * Delivery is held back until `start()` by pausing the channel, then resuming it.
 */
import { join } from 'node:path';
import { pino } from 'pino';
import { Pool } from 'undici';
import { buildConfig } from '../../src/config/load.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { createOffload, type Offload } from '../../src/offload.js';
import type { BenchEnv, BenchMessage, BenchSystem, ChannelSpec, SystemDescription } from './bench-system.js';

/** Events per call on ordered subscriptions: 1 by default, `OFFLOAD_BENCH_BATCH=100` for batched delivery. */
const SUBSCRIPTION_BATCH = Number(process.env.OFFLOAD_BENCH_BATCH ?? 1);

export interface OffloadBenchOptions {
  name: string;
  storage: (env: BenchEnv) => Promise<{ config: ConfigInput['storage']; drop(): Promise<void> }>;
  storeLabel: string;
}

export function createOffloadBench(options: OffloadBenchOptions): BenchSystem {
  let offload: Offload | undefined;
  let pool: Pool | undefined;
  let channel: ChannelSpec | undefined;
  let drop: (() => Promise<void>) | undefined;

  const base = () => (channel!.kind === 'topic' ? `/v1/topics/${channel!.name}` : `/v1/queues/${channel!.name}`);
  const toInput = (m: BenchMessage) => ({ id: m.id, ...(m.key ? { key: m.key } : {}), type: 'bench.message', data: m });

  async function call(path: string, body: unknown): Promise<void> {
    const res = await pool!.request({ path, method: 'POST', headers: { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.body.text();
    if (res.statusCode >= 300) throw new Error(`POST ${path}: ${res.statusCode} ${text}`);
  }

  function channelConfig(spec: ChannelSpec): Pick<ConfigInput, 'queues' | 'topics'> {
    if (spec.kind === 'queue') return { queues: { [spec.name]: { preset: 'ancillary', endpoint: 'receiver', path: spec.path, concurrency: spec.concurrency } } };
    if (spec.kind === 'fifo') return { queues: { [spec.name]: { preset: 'aggregate-fifo', endpoint: 'receiver', path: spec.path, concurrency: spec.concurrency } } };
    const subscriptions = Object.fromEntries(spec.subscriptions.map((s) => [s.name, { preset: 'domain-events' as const, endpoint: 'receiver', path: s.path, ordering: 'topic' as const, batchSize: SUBSCRIPTION_BATCH }]));
    return { topics: { [spec.name]: { subscriptions } } };
  }

  return {
    name: options.name,
    describe(): SystemDescription {
      return {
        version: 'offload 0.1.0',
        settings: [
          `store: ${options.storeLabel}; sends answered only after a durable commit (group commit)`,
          'producers use the HTTP API (undici Pool, 64 connections); delivery via undici keep-alive',
          `queue/fifo concurrency = channel concurrency; subscriptions one delivery (or ordered batch) in flight, batchSize ${SUBSCRIPTION_BATCH}`,
        ],
        mechanisms: {
          queue: 'a queue (preset ancillary): competing deliveries under leases',
          fifo: 'a fifo queue (preset aggregate-fifo): one lane per key, one in flight per key, keys fair by readiness',
          topic: 'a topic with ordered subscriptions (ordering: topic): one delivery row per subscription, sequence in commit order',
        },
        notes: ['Offload runs in the host process: its figures include the HTTP API that producers call'],
      };
    },
    async setup(spec, env) {
      channel = spec;
      const storage = await options.storage(env);
      drop = storage.drop;
      const config = buildConfig({
        server: { port: 0 },
        storage: storage.config,
        endpoints: { receiver: { url: env.receiverOrigin, timeout: '30s' } },
        ...channelConfig(spec),
      });
      offload = await createOffload(config, { logger: pino({ level: 'warn' }) });
      await offload.start();
      pool = new Pool(offload.url, { connections: 64, pipelining: 1 });
      await call(`${base()}/pause`, undefined);
    },
    send: (message) => call(`${base()}/messages`, toInput(message)),
    sendBatch: async (messages) => {
      for (let i = 0; i < messages.length; i += 1000) await call(`${base()}/messages/batch`, { messages: messages.slice(i, i + 1000).map(toInput) });
    },
    async start() {
      await call(`${base()}/resume`, undefined);
    },
    async stop() {
      await offload?.dispatcher.stop(30_000);
    },
    async teardown() {
      await pool?.close();
      await offload?.stop();
      await drop?.();
    },
  };
}

export default function createOffloadSqlite(): BenchSystem {
  return createOffloadBench({
    name: 'offload',
    storeLabel: 'SQLite (WAL, durability fsync)',
    storage: async (env) => ({ config: { sqlite: { path: join(env.scratchDir, 'offload.db'), durability: 'fsync' } }, drop: async () => undefined }),
  });
}
