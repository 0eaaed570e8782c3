import type { AcceptedMessage } from '../src/testing/index.js';
import { RefusedError, sendUntilAnswered, UnansweredError, type SendTarget } from './api.js';
import type { Ledger } from './ledger.js';
import type { ChaosReceiver } from './receiver.js';
import { between, sleep } from './timing.js';
import { BILLING, CHANNEL_OF, FIFO, QUEUE, sendPath, type Workload } from './workloads.js';

export interface ProducerOptions {
  readonly target: SendTarget;
  readonly ledger: Ledger;
  readonly receiver: ChaosReceiver;
  /** Messages per second over every workload. */
  readonly rate: number;
  readonly random: () => number;
  /** Aborted when producing stops; a send already under way still finishes. */
  readonly stop: AbortSignal;
  /** Epoch ms after which an unanswered send is given up (the end of the drain). */
  readonly deadline: number;
}

/** Share of the rate, concurrent loops, and how often a message is poisoned, per workload. */
const PLAN: ReadonlyArray<{ workload: Workload; share: number; loops: number; poison: number }> = [
  { workload: 'queue', share: 0.4, loops: 3, poison: 0.01 },
  { workload: 'fifo', share: 0.3, loops: 4, poison: 0.005 },
  { workload: 'topic', share: 0.3, loops: 3, poison: 0.005 },
];

/** Keys per fifo loop: each loop owns its keys, so one key's messages are sent one send after another. */
const FIFO_KEYS_PER_LOOP = 12;
/** Partition keys of topic events, shared by every topic loop (the sequence orders them). */
const TOPIC_KEYS = 24;

interface Outgoing {
  readonly messages: ReadonlyArray<{ id: string; key?: string; data: unknown }>;
  /** The accepted-message record for each, before the answer adds a topic sequence. */
  readonly records: AcceptedMessage[];
}

/** Starts every producer loop; resolves once all have stopped and their last sends are settled. */
export async function runProducers(options: ProducerOptions): Promise<void> {
  const loops = PLAN.flatMap((plan) =>
    Array.from({ length: plan.loops }, (_, loop) => {
      const build = builderFor(plan.workload, loop, options.random);
      const rate = (options.rate * plan.share) / plan.loops;
      return produceLoop(plan.workload, build, rate, plan.poison, options);
    }),
  );
  await Promise.all(loops);
}

type Builder = (size: number) => Outgoing;

function builderFor(workload: Workload, loop: number, random: () => number): Builder {
  let n = 0;
  const channel = CHANNEL_OF[workload];
  if (workload === 'queue') {
    return (size) => collect(size, () => {
      const id = `q${loop}-${n++}`;
      return { message: { id, data: { n } }, record: { id, channel } };
    });
  }
  if (workload === 'fifo') {
    const next = new Map<string, number>();
    return (size) => collect(size, () => {
      const key = `c${loop}-${Math.floor(random() * FIFO_KEYS_PER_LOOP)}`;
      const order = next.get(key) ?? 0;
      next.set(key, order + 1);
      const id = `f-${key}-${order}`;
      return { message: { id, key, data: { order } }, record: { id, channel, key, order } };
    });
  }
  return (size) => collect(size, () => {
    const key = `o-${Math.floor(random() * TOPIC_KEYS)}`;
    const id = `t${loop}-${n++}`;
    return { message: { id, key, data: { n } }, record: { id, channel, key } };
  });
}

function collect(size: number, one: () => { message: Outgoing['messages'][number]; record: AcceptedMessage }): Outgoing {
  const messages: Array<Outgoing['messages'][number]> = [];
  const records: AcceptedMessage[] = [];
  for (let i = 0; i < size; i++) {
    const { message, record } = one();
    messages.push(message);
    records.push(record);
  }
  return { messages, records };
}

/**
 * Sends at a bounded rate, single messages and batches, waiting for each answer before the
 * next send: that is what makes one fifo key's order the order of its sends.
 */
async function produceLoop(workload: Workload, build: Builder, rate: number, poison: number, options: ProducerOptions): Promise<void> {
  const { random, stop } = options;
  let due = Date.now();
  while (!stop.aborted) {
    const batch = random() < 0.4 ? 1 : between(2, 20, random);
    const outgoing = build(batch);
    // Registered before sending: the first delivery may arrive before the answer does.
    for (const record of outgoing.records) if (random() < poison) options.receiver.poison(poisonTarget(workload), record.id);
    const settled = await sendOnce(workload, outgoing, options);
    if (!settled) return;
    due = Math.max(due + (batch / rate) * 1_000, Date.now() - 1_000);
    await sleep(due - Date.now(), stop);
  }
}

function poisonTarget(workload: Workload): string {
  return workload === 'queue' ? `/${QUEUE}` : workload === 'fifo' ? `/${FIFO}` : `/${BILLING}`;
}

/** Returns false when the send was given up: the loop then stops (the run is past its deadline). */
async function sendOnce(workload: Workload, outgoing: Outgoing, options: ProducerOptions): Promise<boolean> {
  const single = outgoing.messages.length === 1;
  const body = single ? outgoing.messages[0] : { messages: outgoing.messages };
  let answer: unknown;
  try {
    answer = await sendUntilAnswered(options.target, sendPath(workload, !single), body, {
      deadline: options.deadline,
      counter: options.ledger,
    });
  } catch (error) {
    if (!(error instanceof UnansweredError)) throw error;
    options.ledger.unanswered(workload, outgoing.records.map((r) => r.id));
    return false;
  }
  const items = single ? [answer] : (answer as { items?: unknown[] } | null)?.items;
  if (!Array.isArray(items) || items.length !== outgoing.records.length) {
    throw new RefusedError(`unexpected answer to a ${workload} send: ${JSON.stringify(answer).slice(0, 300)}`);
  }
  outgoing.records.forEach((record, i) => options.ledger.accept(workload, withAnswer(workload, record, items[i], options.ledger)));
  return true;
}

function withAnswer(workload: Workload, record: AcceptedMessage, item: unknown, ledger: Ledger): AcceptedMessage {
  const answer = item as { id?: unknown; sequence?: unknown };
  if (answer.id !== record.id) ledger.anomaly(`${record.channel}: sent ${record.id}, the answer names ${String(answer.id)}`);
  if (workload !== 'topic') return record;
  if (typeof answer.sequence !== 'number') {
    ledger.anomaly(`${record.channel}: the answer for ${record.id} has no sequence`);
    return record;
  }
  return { ...record, sequence: answer.sequence };
}
