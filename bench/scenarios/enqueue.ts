import type { BenchCase } from './types.js';
import { checkReceiver, checkStream } from './checks.js';

const STREAM = 'queue';

/**
 * Enqueue rate with nothing delivering: one awaited send per message (one producer,
 * then several), then the batch API. Afterwards everything is drained, so that a
 * send that did not really store its message fails the case.
 */
export const enqueueCase: BenchCase = {
  scenario: 'enqueue',
  name: 'enqueue',
  measures: [
    { name: 'single', unit: 'msg/s', better: 'higher', label: 'one awaited send per message, 1 producer' },
    { name: 'singleConcurrent', unit: 'msg/s', better: 'higher', label: 'one awaited send per message, N producers' },
    { name: 'batch', unit: 'msg/s', better: 'higher', label: 'batch API' },
  ],
  channel: () => ({ kind: 'queue', name: 'bench-enqueue', path: `/deliver/${STREAM}`, concurrency: 64 }),
  async run({ host, receiver, tag, sizes, limits, opTimeoutMs }) {
    const single = await host.call('produce', {
      plan: { kind: 'plain', prefix: `${tag}-s`, count: sizes.enqueueSingle },
      mode: 'single', producers: 1, batchSize: 1,
    }, opTimeoutMs);
    const concurrent = await host.call('produce', {
      plan: { kind: 'plain', prefix: `${tag}-c`, count: sizes.enqueueSingle },
      mode: 'single', producers: sizes.enqueueProducers, batchSize: 1,
    }, opTimeoutMs);
    const batch = await host.call('produce', {
      plan: { kind: 'plain', prefix: `${tag}-b`, count: sizes.enqueueBatch },
      mode: 'batch', producers: 1, batchSize: sizes.batchSize,
    }, opTimeoutMs);
    await host.call('start', {}, opTimeoutMs);
    const expected = sizes.enqueueSingle * 2 + sizes.enqueueBatch;
    const snapshot = await receiver.waitFor({ [STREAM]: expected }, limits);
    await host.call('stop', {}, opTimeoutMs);
    return {
      measures: {
        single: (single.count * 1000) / single.elapsedMs,
        singleConcurrent: (concurrent.count * 1000) / concurrent.elapsedMs,
        batch: (batch.count * 1000) / batch.elapsedMs,
      },
      failures: [...checkReceiver(snapshot), ...checkStream(snapshot, STREAM, expected, { ordered: false, serial: false })],
    };
  },
};
