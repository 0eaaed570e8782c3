import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it, onTestFinished, vi } from 'vitest';
import { createOffload } from '../../src/offload.js';
import { createSqliteStore } from '../../src/storage/sqlite/sqlite-store.js';
import { tempDir } from '../support/temp.js';

afterEach(() => vi.useRealTimers());

describe('the retention sweeper', () => {
  it('starts no sweep while the last one is still under way, and the next once it is done', async () => {
    const dir = tempDir();
    onTestFinished(() => dir.cleanup());
    const path = join(dir.path, 'offload.db');
    const store = createSqliteStore({ path, durability: 'process' });
    onTestFinished(() => store.close());
    // A sweep that takes as long as the test says (a large backlog, a held topic).
    let sweeps = 0;
    let finish = (): void => undefined;
    store.sweep = () => {
      sweeps++;
      return new Promise((resolve) => (finish = () => resolve(0)));
    };
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const offload = await createOffload({ server: { port: 0 }, storage: { sqlite: { path } }, endpoints: { app: { url: 'http://127.0.0.1:9' } }, queues: { q: { endpoint: 'app' } } }, { logger: pino({ level: 'silent' }), store });
    await offload.start();
    onTestFinished(() => offload.stop());
    onTestFinished(() => {
      vi.useRealTimers();
    });
    await vi.advanceTimersByTimeAsync(60_000);
    expect(sweeps).toBe(1);
    await vi.advanceTimersByTimeAsync(120_000);
    expect(sweeps).toBe(1);
    finish();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(sweeps).toBe(2);
    finish();
  });
});
