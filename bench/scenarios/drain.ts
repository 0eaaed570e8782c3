import type { BenchCase } from './types.js';
import { checkReceiver, checkStream, ratePerSec } from './checks.js';
import { streamOf } from '../lib/receiver-client.js';

const STREAM = 'queue';

/** Pre-enqueued messages delivered by competing consumers at a given concurrency. */
export function drainCase(concurrency: number): BenchCase {
  return {
    scenario: 'drain',
    name: `drain-c${concurrency}`,
    measures: [{ name: 'throughput', unit: 'msg/s', better: 'higher', label: `drain at concurrency ${concurrency}` }],
    channel: () => ({ kind: 'queue', name: 'bench-drain', path: `/deliver/${STREAM}`, concurrency }),
    async run({ host, receiver, tag, sizes, limits, opTimeoutMs }) {
      await host.call('produce', {
        plan: { kind: 'plain', prefix: `${tag}-d`, count: sizes.drain },
        mode: 'batch', producers: 1, batchSize: sizes.batchSize,
      }, opTimeoutMs);
      const { startedAt } = await host.call('start', {}, opTimeoutMs);
      const snapshot = await receiver.waitFor({ [STREAM]: sizes.drain }, limits);
      await host.call('stop', {}, opTimeoutMs);
      return {
        measures: { throughput: ratePerSec(sizes.drain, startedAt, streamOf(snapshot, STREAM).lastAt) },
        failures: [...checkReceiver(snapshot), ...checkStream(snapshot, STREAM, sizes.drain, { ordered: false, serial: false })],
      };
    },
  };
}
