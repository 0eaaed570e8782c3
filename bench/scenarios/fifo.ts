import type { BenchCase } from './types.js';
import { checkReceiver, checkStream, ratePerSec } from './checks.js';
import { keyName } from '../lib/messages.js';
import { streamOf } from '../lib/receiver-client.js';

const STREAM = 'fifo';

/**
 * Per-key FIFO: keys × messages pre-enqueued round by round (interleaved keys), then
 * delivered. Every key must arrive in order with no two of its deliveries overlapping.
 */
export const fifoCase: BenchCase = {
  scenario: 'fifo',
  name: 'fifo',
  measures: [{ name: 'throughput', unit: 'msg/s', better: 'higher', label: 'per-key FIFO delivery' }],
  channel: (sizes) => ({
    kind: 'fifo', name: 'bench-fifo', path: `/deliver/${STREAM}`, concurrency: sizes.fifoConcurrency,
    keys: Array.from({ length: sizes.fifoKeys }, (_, i) => keyName(i)),
  }),
  async run({ host, receiver, tag, sizes, limits, opTimeoutMs }) {
    const plan = { kind: 'keyed', prefix: `${tag}-f`, keys: sizes.fifoKeys, perKey: sizes.fifoPerKey } as const;
    await host.call('produce', { plan, mode: 'batch', producers: 1, batchSize: sizes.batchSize }, opTimeoutMs);
    const { startedAt } = await host.call('start', {}, opTimeoutMs);
    const expected = sizes.fifoKeys * sizes.fifoPerKey;
    const snapshot = await receiver.waitFor({ [STREAM]: expected }, limits);
    await host.call('stop', {}, opTimeoutMs);
    return {
      measures: { throughput: ratePerSec(expected, startedAt, streamOf(snapshot, STREAM).lastAt) },
      failures: [...checkReceiver(snapshot), ...checkStream(snapshot, STREAM, expected, { ordered: true, serial: true })],
    };
  },
};
