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

  it('answers each call once its own items are answered, when the batch answers some later than the rest', async () => {
    const late = deferred();
    const batcher = createTickBatcher<number, number>(async (items) => items.map((n) => (n === 3 ? late.promise.then(() => n) : n)));
    const answered: string[] = [];
    const first = batcher.push([1, 2]).then((r) => answered.push(`first ${r.join()}`));
    const second = batcher.push([3]).then((r) => answered.push(`second ${r.join()}`));
    await first;
    expect(answered).toEqual(['first 1,2']);
    late.resolve();
    await second;
    expect(answered).toEqual(['first 1,2', 'second 3']);
  });

  it('keys: calls made while a batch with their key runs wait for it and go together in the next', async () => {
    const started: number[][] = [];
    let release = deferred();
    const batcher = createTickBatcher<number, number>(async (items) => {
      started.push(items);
      await release.promise;
      return items.map((n) => n * 10);
    }, { keysOf: () => 'topic' });
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

  it('keys: a failed batch rejects its own calls only; the calls that waited for it still run', async () => {
    let calls = 0;
    const gate = deferred();
    const batcher = createTickBatcher<number, number>(async (items) => {
      calls++;
      if (calls === 1) {
        await gate.promise;
        throw new Error('refused');
      }
      return items;
    }, { keysOf: () => 'topic' });
    const failing = batcher.push([1]);
    await nextTick();
    const next = batcher.push([2]);
    gate.resolve();
    await expect(failing).rejects.toThrow('refused');
    expect(await next).toEqual([2]);
  });

  it('keys: a call with other keys goes at once, in its own batch; one sharing a key with a waiting call waits behind it', async () => {
    const started: string[][] = [];
    const gates = new Map<string, { promise: Promise<void>; resolve: () => void }>();
    const batcher = createTickBatcher<string, string>(async (items) => {
      started.push(items);
      const gate = deferred();
      gates.set(items.join(), gate);
      await gate.promise;
      return items;
    }, { keysOf: (item) => item[0]! });
    const a1 = batcher.push(['a1']);
    await nextTick();
    const a2 = batcher.push(['a2']);
    const ab = batcher.push(['b1', 'a3']);
    const b2 = batcher.push(['b2']);
    const c1 = batcher.push(['c1']);
    await nextTick();
    // b2 shares key b with a call waiting for key a, so it keeps its place behind it.
    expect(started).toEqual([['a1'], ['c1']]);
    gates.get('c1')!.resolve();
    expect(await c1).toEqual(['c1']);
    gates.get('a1')!.resolve();
    expect(await a1).toEqual(['a1']);
    await nextTick();
    expect(started).toEqual([['a1'], ['c1'], ['a2', 'b1', 'a3', 'b2']]);
    gates.get('a2,b1,a3,b2')!.resolve();
    expect(await Promise.all([a2, ab, b2])).toEqual([['a2'], ['b1', 'a3'], ['b2']]);
  });
});
