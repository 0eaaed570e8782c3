import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { StoreUnavailableError } from '../../src/domain/errors.js';
import type { Store } from '../../src/storage/port.js';
import { createSqliteStore } from '../../src/storage/sqlite/sqlite-store.js';
import { trackWrites } from '../../src/storage/write-health.js';
import { get, post, startOffload } from '../support/offload.js';
import { tempDir } from '../support/temp.js';

/** A real SQLite store whose writes fail like a full disk while `full` is set. */
function fillableStore(inner: Store): { store: Store; disk: { full: boolean } } {
  const disk = { full: false };
  const fail = () => Promise.reject(new StoreUnavailableError('the SQLite store failed (SQLITE_FULL): database or disk is full'));
  const store = new Proxy(inner, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver) as unknown;
      if (typeof value !== 'function' || !['send', 'settle', 'probeWrite', 'sweep', 'setPaused', 'claimOrLookAhead', 'takeRatePermits'].includes(String(property))) return value;
      return (...args: unknown[]) => (disk.full ? fail() : (value as (...a: unknown[]) => Promise<unknown>).apply(target, args));
    },
  });
  return { store, disk };
}

function captureLogs(): { logger: pino.Logger; lines: Array<{ level: number; msg: string; err?: unknown }> } {
  const lines: Array<{ level: number; msg: string; err?: unknown }> = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) lines.push(JSON.parse(line) as { level: number; msg: string });
      done();
    },
  });
  return { logger: pino({ level: 'info' }, stream), lines };
}

describe('readiness and logs tell the truth', () => {
  it('a failed write makes /readyz not ready until a write succeeds again, with every channel paused', async () => {
    const dir = tempDir();
    const { store, disk } = fillableStore(createSqliteStore({ path: join(dir.path, 'offload.db'), durability: 'process' }));
    const { logger, lines } = captureLogs();
    const offload = await startOffload({ endpoints: { sink: { url: 'http://127.0.0.1:9' } }, queues: { q: { endpoint: 'sink' } } }, { store, logger });
    try {
      expect((await post(offload.url, '/v1/queues/q/pause', undefined)).status).toBe(200);
      expect((await get(offload.url, '/readyz')).body).toEqual({ status: 'ready', store: 'ok', writes: 'ok' });

      disk.full = true;
      for (let i = 0; i < 50; i++) expect((await post(offload.url, '/v1/queues/q/messages', { data: { i } })).status).toBe(503);
      const notReady = await get(offload.url, '/readyz');
      expect(notReady.status).toBe(503);
      expect(notReady.body).toMatchObject({ status: 'not ready', store: 'ok', writes: 'failing', reason: expect.stringContaining('SQLITE_FULL') });
      // Reads still work, but that does not make it ready.
      expect((await get(offload.url, '/v1/channels')).status).toBe(200);
      expect((await get(offload.url, '/readyz')).status).toBe(503);

      // 50 identical failures: one alert, one logged error; the rest are counted, not written.
      const errors = lines.filter((l) => l.level >= 50);
      expect(errors.filter((l) => l.msg.startsWith('ALERT: the store refuses writes'))).toHaveLength(1);
      expect(errors.filter((l) => l.msg.includes('SQLITE_FULL') && !l.msg.startsWith('ALERT'))).toHaveLength(1);

      // Space is freed; nobody sends and deliveries are paused: the instance's own probe finds out.
      disk.full = false;
      await expect.poll(async () => (await get(offload.url, '/readyz')).status, { timeout: 10_000 }).toBe(200);
      expect(lines.some((l) => l.msg === 'the store accepts writes again; ready')).toBe(true);
      expect((await post(offload.url, '/v1/queues/q/messages', { id: 'after', data: {} })).status).toBe(202);
    } finally {
      await offload.cleanup();
      await store.close();
      dir.cleanup();
    }
    // The count of the suppressed repeats is logged when the throttle closes.
    expect(lines.some((l) => /repeated 49 more times/.test(l.msg))).toBe(true);
  });

  it('any failing write counts, whoever makes it; a success that may have written nothing does not clear it', async () => {
    const dir = tempDir();
    const inner = createSqliteStore({ path: join(dir.path, 'offload.db'), durability: 'process' });
    await inner.migrate();
    await inner.declare([{ name: 'q', kind: 'queue' }]);
    const { store, disk } = fillableStore(inner);
    const changes: boolean[] = [];
    const tracked = trackWrites(store, { probeEveryMs: 10, onChange: (failing) => changes.push(failing) });
    try {
      disk.full = true;
      await expect(tracked.store.sweep(0)).rejects.toThrow('SQLITE_FULL');
      expect(tracked.health.failing()).toBe(true);
      expect(await tracked.store.claim({ target: 'q', limit: 1, owner: 'o', leaseMs: 1_000 })).toEqual([]);
      expect(tracked.health.failing()).toBe(true);
      await expect(tracked.store.send('q', [])).rejects.toThrow();
      disk.full = false;
      await expect.poll(() => tracked.health.failing()).toBe(false);
      expect(changes).toEqual([true, false]);
    } finally {
      tracked.close();
      await inner.close();
      dir.cleanup();
    }
  });

  it('a dispatcher whose claims fail, with no producer sending, makes /readyz say the writes fail and logs the ALERT', async () => {
    const dir = tempDir();
    const { store, disk } = fillableStore(createSqliteStore({ path: join(dir.path, 'offload.db'), durability: 'process' }));
    const { logger, lines } = captureLogs();
    disk.full = true;
    const offload = await startOffload({ delivery: { pollInterval: '50ms' }, endpoints: { sink: { url: 'http://127.0.0.1:9' } }, queues: { q: { endpoint: 'sink' } } }, { store, logger });
    try {
      await expect.poll(async () => (await get(offload.url, '/readyz')).body, { timeout: 10_000 }).toMatchObject({ writes: 'failing', reason: expect.stringContaining('SQLITE_FULL') });
      expect(lines.filter((l) => l.msg.startsWith('ALERT: the store refuses writes'))).toHaveLength(1);
      disk.full = false;
      await expect.poll(async () => (await get(offload.url, '/readyz')).status, { timeout: 20_000 }).toBe(200);
    } finally {
      await offload.cleanup();
      dir.cleanup();
    }
  });
});
