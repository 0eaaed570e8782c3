import { afterEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { checkHistory, createFaultReceiver, type FaultReceiver } from '../../src/testing/index.js';
import { post } from '../support/offload.js';
import { spawnOffload, writeConfig, type OffloadProcess } from '../support/process.js';
import { tempDir } from '../support/temp.js';

describe('crash recovery on SQLite', () => {
  let receiver: FaultReceiver | undefined;
  let proc: OffloadProcess | undefined;
  const dir = tempDir();
  afterEach(async () => {
    await proc?.kill('SIGKILL');
    await receiver?.close();
    dir.cleanup();
  });

  it('SIGKILL with ~200 deliveries in flight: after a restart on the same file every message is delivered, duplicates only among those in flight', async () => {
    receiver = await createFaultReceiver({ otherwise: { kind: 'delay', ms: { min: 100, max: 300 } } });
    const configPath = writeConfig(dir.path, {
      storage: { sqlite: { path: join(dir.path, 'offload.db') } },
      endpoints: { sink: { url: receiver.url, timeout: '10s' } },
      queues: { emails: { preset: 'ancillary', endpoint: 'sink', path: '/emails', concurrency: 200, lockDuration: '2s', minBackoff: '50ms', maxBackoff: '1s' } },
    });
    proc = await spawnOffload(configPath);
    const accepted: Array<{ id: string; channel: string }> = [];
    for (let b = 0; b < 20; b++) {
      const res = await post(proc.url, '/v1/queues/emails/messages/batch', { messages: Array.from({ length: 100 }, (_, i) => ({ id: `e-${b}-${i}`, data: { to: `user${i}@example.com` } })) });
      expect(res.status).toBe(202);
      accepted.push(...res.body.items.map((r: { id: string }) => ({ id: r.id, channel: 'emails' })));
    }
    await receiver.waitFor((r) => r.acceptCounts('/emails').size >= 400 && r.inFlight().length >= 150, { timeoutMs: 30_000, description: '~200 in flight' });
    const killedAt = receiver.now();
    const inFlightAtKill = receiver.inFlight().length;
    await proc.kill('SIGKILL');
    const restartedAt = receiver.now();
    proc = await spawnOffload(configPath);
    await receiver.waitFor((r) => r.acceptCounts('/emails').size === 2_000, { timeoutMs: 60_000, description: 'all 2,000 delivered after restart' });
    const report = checkHistory({
      accepted,
      targets: [{ target: '/emails', channel: 'emails' }],
      deliveries: receiver.deliveries(),
      // A 2xx sent just before the kill may not have been settled yet: the window opens a moment earlier.
      crashes: [{ from: killedAt - 100, to: restartedAt }],
    });
    expect(report.lost).toEqual([]);
    expect(report.unexpected).toEqual([]);
    expect(report.duplicatedUnexpected).toEqual([]);
    expect(report.duplicatedInFlight.length).toBeLessThanOrEqual(inFlightAtKill + 50);
    expect(inFlightAtKill).toBeGreaterThanOrEqual(150);
  });
});
