import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { get, post, startOffload, testReceiver } from '../support/offload.js';
import { tempDir } from '../support/temp.js';

/** Another process takes SQLite's write lock and holds it, as a stray tool or second writer would. */
function holdWriteLock(path: string, ms: number): Promise<{ released: Promise<void> }> {
  const script = `const D = require('better-sqlite3'); const db = new D(${JSON.stringify(path)}); db.exec('BEGIN IMMEDIATE'); console.log('locked'); setTimeout(() => { db.exec('COMMIT'); db.close(); }, ${ms});`;
  const child = spawn(process.execPath, ['-e', script], { cwd: process.cwd(), stdio: ['ignore', 'pipe', 'inherit'] });
  const released = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  return new Promise((resolve) => child.stdout.once('data', () => resolve({ released })));
}

describe('store errors', () => {
  const dir = tempDir();
  afterAll(() => dir.cleanup());

  it('a locked database gives 503 problems and readyz false, never a crash or a lost message; service resumes on its own', async () => {
    const receiver = await testReceiver();
    const path = join(dir.path, 'offload.db');
    const offload = await startOffload({ storage: { sqlite: { path } }, endpoints: { sink: { url: receiver.url } }, queues: { q: { endpoint: 'sink', path: '/q' } } });
    expect((await post(offload.url, '/v1/queues/q/messages', { id: 'before', data: {} })).status).toBe(202);
    await receiver.waitFor((r) => r.acceptCounts('/q').has('before'), { timeoutMs: 5_000 });

    const lock = await holdWriteLock(path, 6_000);
    const refused = await post(offload.url, '/v1/queues/q/messages', { id: 'during', data: {} });
    expect(refused.status).toBe(503);
    expect(refused.body).toMatchObject({ status: 503, type: 'urn:offload:problem:store_unavailable' });
    expect(refused.body.detail).toContain('SQLITE_BUSY');
    await expect.poll(async () => (await get(offload.url, '/readyz')).status, { timeout: 10_000 }).toBe(503);
    await lock.released;

    expect((await post(offload.url, '/v1/queues/q/messages', { id: 'during', data: {} })).status).toBe(202);
    await receiver.waitFor((r) => r.acceptCounts('/q').has('during'), { timeoutMs: 10_000 });
    await expect.poll(async () => (await get(offload.url, '/readyz')).status, { timeout: 15_000 }).toBe(200);
    expect(receiver.acceptCounts('/q').get('before')).toBe(1);
  });
});
