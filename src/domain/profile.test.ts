import { describe, expect, it } from 'vitest';
import type { DeliveryPolicy, Target } from './channel.js';
import { profileOf } from './profile.js';

const policy: DeliveryPolicy = {
  url: 'http://127.0.0.1:9000/work', endpoint: 'sink', timeoutMs: 1_000, lockDurationMs: 1_000, concurrency: 8,
  maxAttempts: 3, minBackoffMs: 10, maxBackoffMs: 100, secrets: [], headers: {},
};
const subscription = { ...policy, kind: 'subscription', name: 't/s', topic: 't', subscription: 's', batchSize: 5, maxBatchWaitMs: 20, stallAfterAttempts: 4, startFrom: 'latest' } as const;

describe('profileOf', () => {
  it.each<[string, Target, object]>([
    ['queue', { ...policy, kind: 'queue', name: 'q', ordering: 'none' }, { ordering: 'none', inFlight: 8, batchSize: 1, singleLane: false, handOver: 'batch', attemptsBeforeExhausted: 3, whenExhausted: 'deadletter' }],
    ['fifo that blocks', { ...policy, kind: 'fifo', name: 'f', ordering: 'key', onExhausted: 'block' }, { ordering: 'key', inFlight: 8, batchSize: 1, handOver: 'batch', whenExhausted: 'park' }],
    ['fifo at concurrency 1', { ...policy, kind: 'fifo', name: 'f', ordering: 'key', onExhausted: 'block', concurrency: 1 }, { inFlight: 1, singleLane: false, handOver: 'step' }],
    ['fifo that dead-letters', { ...policy, kind: 'fifo', name: 'f', ordering: 'key', onExhausted: 'deadletter' }, { whenExhausted: 'deadletter' }],
    ['subscription by key', { ...subscription, ordering: 'key' }, { ordering: 'key', inFlight: 8, batchSize: 1, maxBatchWaitMs: 0, singleLane: false, handOver: 'batch', attemptsBeforeExhausted: 4, whenExhausted: 'stall' }],
    ['subscription by topic', { ...subscription, ordering: 'topic' }, { ordering: 'topic', inFlight: 1, batchSize: 5, maxBatchWaitMs: 20, singleLane: true, handOver: 'step', whenExhausted: 'stall' }],
  ])('%s', (_name, target, expected) => {
    expect(profileOf(target)).toMatchObject(expected);
  });

  it('puts a message in the lane of its key, the one lane of its topic, or none', () => {
    expect(profileOf({ ...policy, kind: 'queue', name: 'q', ordering: 'none' }).laneOf('k')).toBeNull();
    expect(profileOf({ ...policy, kind: 'fifo', name: 'f', ordering: 'key', onExhausted: 'block' }).laneOf(null)).toBe('');
    expect(profileOf({ ...subscription, ordering: 'key' }).laneOf('k')).toBe('k');
    expect(profileOf({ ...subscription, ordering: 'topic' }).laneOf('k')).toBe('');
  });
});
