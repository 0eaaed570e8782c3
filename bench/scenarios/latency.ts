import type { BenchCase } from './types.js';
import { checkReceiver, checkStream } from './checks.js';
import { streamOf } from '../lib/receiver-client.js';

const STREAM = 'queue';

/**
 * Open-loop load at a fixed rate with consumers running: enqueue-to-receipt latency,
 * measured from the body's `sentAt` (stamped just before the send call) to the moment
 * the receiver saw the request. The same load runs for `latencyWarmupSeconds` first, and the
 * receiver forgets it once it has all arrived: every system starts in a new process, whose
 * first second runs code not yet compiled and opens its connections, and that is not the
 * latency of a system that is up.
 */
export const latencyCase: BenchCase = {
  scenario: 'latency',
  name: 'latency',
  measures: [
    { name: 'p50', unit: 'ms', better: 'lower', label: 'enqueue-to-receipt p50' },
    { name: 'p95', unit: 'ms', better: 'lower', label: 'enqueue-to-receipt p95' },
    { name: 'p99', unit: 'ms', better: 'lower', label: 'enqueue-to-receipt p99' },
    { name: 'max', unit: 'ms', better: 'lower', label: 'enqueue-to-receipt max' },
    // Shows whether latency came from slow sends (the producer falling behind) or from delivery.
    { name: 'peakPendingSends', unit: 'count', better: 'lower', label: 'most sends pending at once' },
  ],
  channel: (sizes) => ({
    kind: 'queue', name: 'bench-latency', path: `/deliver/${STREAM}`, concurrency: sizes.latencyConcurrency,
  }),
  async run({ host, receiver, tag, sizes, limits, opTimeoutMs }) {
    await host.call('start', {}, opTimeoutMs);
    const warmupMs = sizes.latencyWarmupSeconds * 1000;
    const warmup = await host.call('openLoop', {
      prefix: `${tag}-w`, ratePerSec: sizes.latencyRatePerSec, durationMs: warmupMs, maxOutstanding: sizes.latencyRatePerSec * 2,
    }, warmupMs + opTimeoutMs);
    await receiver.waitFor({ [STREAM]: warmup.sent - warmup.failed }, limits);
    await receiver.reset(tag);
    const durationMs = sizes.latencySeconds * 1000;
    const load = await host.call('openLoop', {
      prefix: `${tag}-l`, ratePerSec: sizes.latencyRatePerSec, durationMs,
      // More than two seconds of backlog means the system cannot keep the rate.
      maxOutstanding: sizes.latencyRatePerSec * 2,
    }, durationMs + opTimeoutMs);
    const expected = Math.round((sizes.latencyRatePerSec * durationMs) / 1000);
    const failures: string[] = [];
    if (warmup.failed > 0) failures.push(`${warmup.failed} warm-up sends failed or not issued: ${warmup.firstError ?? 'backlog'}`);
    if (load.failed > 0) failures.push(`${load.failed} sends failed or not issued: ${load.firstError ?? 'backlog'}`);
    const snapshot = await receiver.waitFor({ [STREAM]: load.sent - load.failed }, limits);
    await host.call('stop', {}, opTimeoutMs);
    const latency = streamOf(snapshot, STREAM).latency;
    return {
      measures: {
        p50: latency?.p50 ?? Number.NaN, p95: latency?.p95 ?? Number.NaN,
        p99: latency?.p99 ?? Number.NaN, max: latency?.max ?? Number.NaN,
        peakPendingSends: load.peakOutstanding,
      },
      failures: [...failures, ...checkReceiver(snapshot), ...checkStream(snapshot, STREAM, expected, { ordered: false, serial: false })],
    };
  },
};
