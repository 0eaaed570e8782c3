import { describe, expect, it } from 'vitest';
import { createTickBatcher } from './tick-batcher.js';

const nextTick = () => new Promise((resolve) => setImmediate(resolve));
function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve = (): void => {};
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe('tick batcher', () => {
  it('runs one batch per turn of the event loop, several at once', async () => {
    const started: number[][] = [];
    const gate = deferred();
    const batcher = createTickBatcher<number, number>(async (items) => {
      started.push(items);
      await gate.promise;
      return items;
    });
    const first = batcher.push([1, 2]);
    await nextTick();
    const second = batcher.push([3]);
    await nextTick();
    expect(started).toEqual([[1, 2], [3]]);
    gate.resolve();
    expect(await Promise.all([first, second])).toEqual([[1, 2], [3]]);
  });

  it('serial: calls made while a batch runs wait for it and go together in the next', async () => {
    const started: number[][] = [];
    let release = deferred();
    const batcher = createTickBatcher<number, number>(async (items) => {
      started.push(items);
      await release.promise;
      return items.map((n) => n * 10);
    }, { serial: true });
    const first = batcher.push([1]);
    await nextTick();
    const later = [batcher.push([2]), batcher.push([3])];
    await nextTick();
    const last = batcher.push([4]);
    await nextTick();
    expect(started).toEqual([[1]]);
    const held = release;
    release = deferred();
    held.resolve();
    expect(await first).toEqual([10]);
    await nextTick();
    expect(started).toEqual([[1], [2, 3, 4]]);
    release.resolve();
    expect(await Promise.all([...later, last])).toEqual([[20], [30], [40]]);
  });

  it('serial: a failed batch rejects its own calls only; the next batch still runs', async () => {
    let calls = 0;
    const gate = deferred();
    const batcher = createTickBatcher<number, number>(async (items) => {
      calls++;
      if (calls === 1) {
        await gate.promise;
        throw new Error('refused');
      }
      return items;
    }, { serial: true });
    const failing = batcher.push([1]);
    await nextTick();
    const next = batcher.push([2]);
    gate.resolve();
    await expect(failing).rejects.toThrow('refused');
    expect(await next).toEqual([2]);
  });
});
