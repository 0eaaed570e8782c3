import { describe, expect, it } from 'vitest';
import { createUnderWay } from './under-way.js';

describe('work under way', () => {
  it('settles once every tracked work has ended, work added while waiting and failed work included', async () => {
    const underWay = createUnderWay();
    const ends: Array<() => void> = [];
    const later = () => new Promise<void>((resolve) => ends.push(resolve));
    void underWay.track(later());
    const failing = underWay.track(Promise.reject(new Error('failed')));
    await expect(failing).rejects.toThrow('failed');
    let settled = false;
    const waiting = underWay.settled().then(() => (settled = true));
    void underWay.track(later());
    ends[0]!();
    await new Promise((resolve) => setImmediate(resolve));
    expect(settled).toBe(false);
    ends[1]!();
    await waiting;
    expect(settled).toBe(true);
    await underWay.settled();
  });
});
