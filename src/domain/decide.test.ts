import { describe, expect, it } from 'vitest';
import type { DeliveryPolicy, FifoTarget, QueueTarget, SubscriptionTarget } from './channel.js';
import { createFakeClock } from './clock.js';
import { decide } from './decide.js';
import type { Classification } from './outcome.js';

const policy: DeliveryPolicy = {
  url: 'http://127.0.0.1:9000/work',
  endpoint: 'sink',
  timeoutMs: 30_000,
  lockDurationMs: 30_000,
  concurrency: 4,
  maxAttempts: 3,
  minBackoffMs: 1_000,
  maxBackoffMs: 60_000,
  secrets: [],
  headers: {},
};
const queue: QueueTarget = { ...policy, kind: 'queue', name: 'audits', ordering: 'none' };
const fifoBlock: FifoTarget = { ...policy, kind: 'fifo', name: 'provisionings', ordering: 'key', onExhausted: 'block' };
const fifoDeadletter: FifoTarget = { ...fifoBlock, onExhausted: 'deadletter' };
const subscription: SubscriptionTarget = {
  ...policy,
  kind: 'subscription',
  name: 'events/read-models',
  topic: 'events',
  subscription: 'read-models',
  ordering: 'topic',
  batchSize: 1,
  maxBatchWaitMs: 0,
  stallAfterAttempts: 5,
  startFrom: 'latest',
};

const failed: Classification = { kind: 'retryable', reason: 'HTTP 500' };
const rejected: Classification = { kind: 'permanent', reason: 'HTTP 400' };
const lowest = () => 0;
const highest = () => 1 - 2 ** -40;

describe('decide', () => {
  const clock = createFakeClock();

  it('settles a delivered attempt as delivered on every kind of target', () => {
    for (const target of [queue, fifoBlock, fifoDeadletter, subscription]) {
      expect(decide(target, 1, { kind: 'delivered' }, clock.now(), lowest)).toEqual({ kind: 'delivered' });
    }
  });

  describe('queue', () => {
    it('retries with backoff until maxAttempts, then dead-letters', () => {
      expect(decide(queue, 1, failed, clock.now(), highest)).toEqual({ kind: 'retry', availableAt: clock.now() + 2_000, reason: 'HTTP 500' });
      expect(decide(queue, 2, failed, clock.now(), highest)).toEqual({ kind: 'retry', availableAt: clock.now() + 4_000, reason: 'HTTP 500' });
      expect(decide(queue, 2, failed, clock.now(), lowest)).toEqual({ kind: 'retry', availableAt: clock.now() + 1_000, reason: 'HTTP 500' });
      expect(decide(queue, 3, failed, clock.now(), highest)).toEqual({ kind: 'deadletter', reason: 'attempts exhausted (3): HTTP 500' });
    });

    it('dead-letters a permanent failure at once', () => {
      expect(decide(queue, 1, rejected, clock.now(), highest)).toEqual({ kind: 'deadletter', reason: 'permanent failure: HTTP 400' });
    });

    it('honours Retry-After, capped at maxBackoff', () => {
      clock.advance(12_345);
      const now = clock.now();
      expect(decide(queue, 1, { kind: 'retryable', reason: 'HTTP 429', retryAfterMs: 7_000 }, now, highest)).toEqual({ kind: 'retry', availableAt: now + 7_000, reason: 'HTTP 429' });
      expect(decide(queue, 1, { kind: 'retryable', reason: 'HTTP 503', retryAfterMs: 600_000 }, now, highest)).toEqual({ kind: 'retry', availableAt: now + 60_000, reason: 'HTTP 503' });
      expect(decide(queue, 2, { kind: 'retryable', reason: 'HTTP 503', retryAfterMs: 0 }, now, highest)).toEqual({ kind: 'retry', availableAt: now, reason: 'HTTP 503' });
    });

    it('still dead-letters on the last attempt even with Retry-After', () => {
      expect(decide(queue, 3, { kind: 'retryable', reason: 'HTTP 429', retryAfterMs: 1_000 }, clock.now(), highest)).toEqual({ kind: 'deadletter', reason: 'attempts exhausted (3): HTTP 429' });
    });
  });

  describe('fifo', () => {
    it('with onExhausted block parks the key when attempts run out', () => {
      expect(decide(fifoBlock, 2, failed, clock.now(), lowest)).toEqual({ kind: 'retry', availableAt: clock.now() + 1_000, reason: 'HTTP 500' });
      expect(decide(fifoBlock, 3, failed, clock.now(), lowest)).toEqual({ kind: 'park', reason: 'attempts exhausted (3): HTTP 500' });
    });

    it('with onExhausted block parks at once on a permanent failure', () => {
      expect(decide(fifoBlock, 1, rejected, clock.now(), lowest)).toEqual({ kind: 'park', reason: 'permanent failure: HTTP 400' });
    });

    it('with onExhausted deadletter dead-letters', () => {
      expect(decide(fifoDeadletter, 3, failed, clock.now(), lowest)).toEqual({ kind: 'deadletter', reason: 'attempts exhausted (3): HTTP 500' });
      expect(decide(fifoDeadletter, 1, rejected, clock.now(), lowest)).toEqual({ kind: 'deadletter', reason: 'permanent failure: HTTP 400' });
    });
  });

  describe('subscription', () => {
    it('never dead-letters: retries with backoff until stallAfterAttempts, ignoring maxAttempts', () => {
      for (let attempt = 1; attempt < subscription.stallAfterAttempts; attempt++) {
        expect(decide(subscription, attempt, failed, clock.now(), lowest)).toEqual({ kind: 'retry', availableAt: clock.now() + 1_000, reason: 'HTTP 500' });
      }
      expect(subscription.maxAttempts).toBeLessThan(subscription.stallAfterAttempts);
    });

    it('stalls at stallAfterAttempts and after, retrying at the capped backoff', () => {
      clock.advance(1_000);
      const now = clock.now();
      for (const attempt of [5, 6, 50]) {
        expect(decide(subscription, attempt, failed, now, lowest)).toEqual({ kind: 'stall', availableAt: now + 60_000, reason: 'HTTP 500' });
      }
    });

    it('stalls at once on a permanent failure', () => {
      const now = clock.now();
      expect(decide(subscription, 1, rejected, now, lowest)).toEqual({ kind: 'stall', availableAt: now + 60_000, reason: 'HTTP 400' });
    });

    it('honours Retry-After before stalling, capped at maxBackoff', () => {
      const now = clock.now();
      expect(decide(subscription, 1, { kind: 'retryable', reason: 'HTTP 429', retryAfterMs: 9_000 }, now, lowest)).toEqual({ kind: 'retry', availableAt: now + 9_000, reason: 'HTTP 429' });
      expect(decide(subscription, 1, { kind: 'retryable', reason: 'HTTP 429', retryAfterMs: 900_000 }, now, lowest)).toEqual({ kind: 'retry', availableAt: now + 60_000, reason: 'HTTP 429' });
    });
  });

  describe('expiry (plain queues)', () => {
    it('dead-letters as expired instead of retrying at or after expiresAt, and retries before it', () => {
      const now = 1_000_000;
      // highest: the retry after attempt 1 is due at now + 2s.
      expect(decide(queue, 1, failed, now, highest, now + 2_000)).toEqual({ kind: 'deadletter', reason: 'expired' });
      expect(decide(queue, 1, failed, now, highest, now - 1)).toEqual({ kind: 'deadletter', reason: 'expired' });
      expect(decide(queue, 1, failed, now, highest, now + 2_001)).toEqual({ kind: 'retry', availableAt: now + 2_000, reason: 'HTTP 500' });
      expect(decide(queue, 1, failed, now, highest, null)).toEqual({ kind: 'retry', availableAt: now + 2_000, reason: 'HTTP 500' });
    });

    it('keeps a delivered outcome and the reasons of exhausted and permanent failures', () => {
      const now = 1_000_000;
      expect(decide(queue, 1, { kind: 'delivered' }, now, highest, now - 1)).toEqual({ kind: 'delivered' });
      expect(decide(queue, 1, rejected, now, highest, now - 1)).toEqual({ kind: 'deadletter', reason: 'permanent failure: HTTP 400' });
      expect(decide(queue, 3, failed, now, highest, now - 1)).toEqual({ kind: 'deadletter', reason: 'attempts exhausted (3): HTTP 500' });
    });
  });
});
