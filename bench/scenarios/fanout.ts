import type { BenchCase, Sizes } from './types.js';
import { checkReceiver, checkStream, ratePerSec } from './checks.js';
import { streamOf } from '../lib/receiver-client.js';

function subscriptionNames(sizes: Sizes): string[] {
  return Array.from({ length: sizes.fanoutSubscriptions }, (_, i) => `sub-${String.fromCharCode(97 + i)}`);
}

/**
 * Fan-out: publishes pre-enqueued to a topic whose ordered subscriptions each get
 * every event, one in flight, in publish order. Reported per subscription; the
 * headline is the slowest subscription.
 */
export const fanoutCase: BenchCase = {
  scenario: 'fanout',
  name: 'fanout',
  measures: [
    { name: 'slowestSubscription', unit: 'events/s', better: 'higher', label: 'events/s of the slowest subscription' },
    { name: 'meanSubscription', unit: 'events/s', better: 'higher', label: 'events/s per subscription, mean' },
  ],
  channel: (sizes) => ({
    kind: 'topic', name: 'bench-topic',
    subscriptions: subscriptionNames(sizes).map((name) => ({ name, path: `/deliver/${name}` })),
  }),
  async run({ host, receiver, tag, sizes, limits, opTimeoutMs }) {
    const n = sizes.fanoutPublishes;
    await host.call('produce', {
      plan: { kind: 'plain', prefix: `${tag}-p`, count: n }, mode: 'batch', producers: 1, batchSize: sizes.batchSize,
    }, opTimeoutMs);
    const { startedAt } = await host.call('start', {}, opTimeoutMs);
    const names = subscriptionNames(sizes);
    const snapshot = await receiver.waitFor(Object.fromEntries(names.map((s) => [s, n])), limits);
    await host.call('stop', {}, opTimeoutMs);
    const rates = names.map((s) => ratePerSec(n, startedAt, streamOf(snapshot, s).lastAt));
    return {
      measures: {
        slowestSubscription: Math.min(...rates),
        meanSubscription: rates.reduce((a, b) => a + b, 0) / rates.length,
      },
      failures: [
        ...checkReceiver(snapshot),
        ...names.flatMap((s) => checkStream(snapshot, s, n, { ordered: true, serial: true })),
      ],
    };
  },
};
