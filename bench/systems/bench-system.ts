/**
 * The contract every benchmarked system implements.
 *
 * Glossary
 * - system: one product under test (Offload, BullMQ, pg-boss, graphile-worker).
 * - adapter: the module in `bench/systems/<name>.ts` that drives one system.
 * - channel: the one thing a benchmark case sends to: an unordered queue, a per-key
 *   FIFO queue or a topic with ordered subscriptions. Every case uses exactly one.
 * - receiver: the no-op HTTP server in its own process that every delivery goes to;
 *   it timestamps arrivals and checks ids, order and per-key overlap.
 * - host: the child process (`bench/system-host.ts`) that loads one adapter, so the
 *   system's memory and CPU are measured on their own.
 *
 * Lifecycle of one case, all in one fresh host process:
 *   setup(channel, env) → send / sendBatch (messages are stored, nothing delivered yet)
 *   → start() (delivery begins; the clock for throughput starts just before it)
 *   → more sends for open-loop cases → stop() → teardown().
 */

/** The JSON body a system must deliver for one message, unchanged (≈300 bytes). */
export interface BenchMessage {
  /** Unique within a case; starts with the run tag the receiver was reset with. */
  readonly id: string;
  /** 1-based position in its lane: per key on fifo, per publish order on topics. */
  readonly seq: number;
  /** Aggregate / partition key; set on fifo channels only. */
  readonly key?: string;
  /** Enqueue time, epoch milliseconds with a fraction (`performance.timeOrigin + performance.now()`). */
  readonly sentAt: number;
  /** Filler that brings the serialized body to about 300 bytes. */
  readonly pad: string;
}

/** Where deliveries go: `POST ${env.receiverOrigin}${path}`. */
export interface EndpointRef {
  /** Path on the receiver, e.g. `/deliver/queue`; the receiver tracks each path as a stream. */
  readonly path: string;
}

/** Competing consumers, no order: up to `concurrency` deliveries in flight. */
export interface QueueChannel extends EndpointRef {
  readonly kind: 'queue';
  readonly name: string;
  readonly concurrency: number;
}

/**
 * Per-key FIFO: one delivery in flight per key, keys in parallel up to `concurrency`
 * (a hint for systems whose per-key mechanism has no global cap). `keys` lists every
 * key the case will use, for systems that must create something per key up front.
 */
export interface FifoChannel extends EndpointRef {
  readonly kind: 'fifo';
  readonly name: string;
  readonly concurrency: number;
  readonly keys: readonly string[];
}

/** One ordered subscription of a topic: one delivery in flight, publish order. */
export interface SubscriptionRef extends EndpointRef {
  readonly name: string;
}

/** A topic: every publish goes to every subscription; subscriptions never compete. */
export interface TopicChannel {
  readonly kind: 'topic';
  readonly name: string;
  readonly subscriptions: readonly SubscriptionRef[];
}

export type ChannelSpec = QueueChannel | FifoChannel | TopicChannel;

/** What the harness hands every adapter; all services are on 127.0.0.1. */
export interface BenchEnv {
  /** e.g. `http://127.0.0.1:41234`; a delivery counts only when the receiver answered 2xx. */
  readonly receiverOrigin: string;
  /** Administrative PostgreSQL URL (database `postgres`), for creating a fresh database. */
  readonly postgresAdminUrl: string;
  readonly redisUrl: string;
  /** A directory this case may write to (SQLite files, config files); removed afterwards. */
  readonly scratchDir: string;
  /** Short lowercase tag, unique per case run, for names that must not collide. */
  readonly runTag: string;
  log(line: string): void;
}

/** Settings and mechanisms an adapter reports, printed verbatim in the results. */
export interface SystemDescription {
  /** Package version(s) under test, e.g. `bullmq 5.81.5`. */
  readonly version: string;
  /** One line per tuned setting, e.g. `concurrency = channel concurrency`. */
  readonly settings: readonly string[];
  /** How each channel kind is realised, e.g. `fifo: a queue per key, worker concurrency 1`. */
  readonly mechanisms: Readonly<Record<ChannelSpec['kind'], string>>;
  /** Anything a reader must know to judge the figures (durability, caveats). */
  readonly notes: readonly string[];
}

export interface BenchSystem {
  /** Lowercase id used by `--only`, e.g. `bullmq`, `pg-boss`, `offload`. */
  readonly name: string;
  describe(): SystemDescription;
  /**
   * Create fresh storage and the channel. Must not deliver anything before `start()`.
   * Called once per host process.
   */
  setup(channel: ChannelSpec, env: BenchEnv): Promise<void>;
  /**
   * Store one message durably (as durably as the system can) and resolve only then.
   * On a topic this is one publish.
   */
  send(message: BenchMessage): Promise<void>;
  /**
   * Store many messages with the system's batch API, in array order. On fifo channels
   * a batch never holds two messages of the same key; batches are awaited one by one.
   */
  sendBatch(messages: readonly BenchMessage[]): Promise<void>;
  /** Begin delivering: POST each message's JSON to its endpoint, complete on 2xx only. */
  start(): Promise<void>;
  /** Stop taking new work and wait for deliveries in flight. */
  stop(): Promise<void>;
  /** Close every connection and drop what setup created. Must tolerate a failed setup. */
  teardown(): Promise<void>;
  /**
   * Peak resident memory in KiB of the process(es) that store and deliver, when that
   * is not the host process itself (e.g. a server the adapter spawned). Omit otherwise:
   * the host then reports its own `process.resourceUsage().maxRSS`.
   */
  peakRssKb?(): Promise<number>;
}

/** What `bench/systems/<name>.ts` exports as default: a factory, so each host builds a fresh one. */
export type BenchSystemFactory = () => BenchSystem;
