import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { checkHistory } from '../../src/testing/index.js';
import { post, testReceiver } from '../support/offload.js';
import { spawnOffload, writeConfig } from '../support/process.js';
import { testDir } from '../support/temp.js';

describe('graceful shutdown', () => {
  it('SIGTERM under load: in-flight calls finish, nothing is cut off or repeated, and a restart continues', async () => {
    const dir = testDir();
    const receiver = await testReceiver({ otherwise: { kind: 'delay', ms: { min: 200, max: 600 } } });
    const configPath = writeConfig(dir, {
      storage: { sqlite: { path: join(dir, 'offload.db') } },
      endpoints: { sink: { url: receiver.url, timeout: '10s' } },
      queues: { audits: { endpoint: 'sink', path: '/audits', concurrency: 50 } },
      delivery: { shutdownGrace: '10s' },
    });
    let proc = await spawnOffload(configPath);
    const ids = Array.from({ length: 1_000 }, (_, i) => `a-${i}`);
    for (let i = 0; i < ids.length; i += 250) {
      expect((await post(proc.url, '/v1/queues/audits/messages/batch', { messages: ids.slice(i, i + 250).map((id) => ({ id, data: {} })) })).status).toBe(202);
    }
    await receiver.waitFor((r) => r.inFlight().length >= 40, { timeoutMs: 10_000 });
    const inFlightAtTerm = receiver.inFlight().length;
    proc.child.kill('SIGTERM');
    expect(await proc.exited).toBe(0);
    expect(proc.output()).toContain('stopped cleanly');
    // Every call that had started was answered, none was cut off.
    expect(receiver.records().filter((r) => r.outcome !== 'answered')).toEqual([]);
    const deliveredBeforeRestart = receiver.acceptCounts('/audits').size;
    expect(deliveredBeforeRestart).toBeGreaterThanOrEqual(inFlightAtTerm);
    expect(deliveredBeforeRestart).toBeLessThan(1_000);

    proc = await spawnOffload(configPath);
    await receiver.waitFor((r) => r.acceptCounts('/audits').size === 1_000, { timeoutMs: 60_000 });
    const report = checkHistory({ accepted: ids.map((id) => ({ id, channel: 'audits' })), targets: [{ target: '/audits', channel: 'audits' }], deliveries: receiver.deliveries() });
    expect(report.ok, report.summary()).toBe(true);
    expect(report.duplicated).toEqual([]);
  });
});
