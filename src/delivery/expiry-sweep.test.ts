import { describe, expect, it } from 'vitest';
import type { ExpiredDelivery } from '../storage/port.js';
import { createExpirySweep } from './expiry-sweep.js';

const expired = (n: number, from = 0): ExpiredDelivery[] => Array.from({ length: n }, (_, i) => ({ target: 'q', messageId: `m${from + i}` }));

describe('expiry sweep', () => {
  it('asks again at once while the store returns full batches, and reports each batch', async () => {
    const batches = [expired(1_000), expired(1_000, 1_000), expired(3, 2_000)];
    const limits: number[] = [];
    const reported: number[] = [];
    const sweep = createExpirySweep({
      store: { expire: async (limit) => (limits.push(limit), batches.shift() ?? []) },
      intervalMs: 60_000,
      onExpired: (e) => reported.push(e.length),
      onError: (error) => { throw error; },
    });
    expect(await sweep.run()).toBe(2_003);
    expect(limits).toEqual([1_000, 1_000, 1_000]);
    expect(reported).toEqual([1_000, 1_000, 3]);
    expect(await sweep.run()).toBe(0);
    expect(reported).toHaveLength(3);
  });

  it('runs one sweep at a time: a run asked for during one shares it', async () => {
    let calls = 0;
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const sweep = createExpirySweep({
      store: { expire: async () => (calls++, await gate, expired(2)) },
      intervalMs: 60_000,
      onExpired: () => {},
      onError: () => {},
    });
    const first = sweep.run();
    const second = sweep.run();
    release();
    expect(await Promise.all([first, second])).toEqual([2, 2]);
    expect(calls).toBe(1);
    await sweep.stop();
  });
});
