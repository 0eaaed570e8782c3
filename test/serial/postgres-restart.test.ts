import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { checkHistory, createFaultReceiver, type FaultReceiver } from '../../src/testing/index.js';
import { get, post } from '../support/offload.js';
import { dropSchema, postgresAvailable, TEST_PG_URL, testSchema } from '../support/postgres.js';
import { spawnOffload, writeConfig, type OffloadProcess } from '../support/process.js';
import { allDelivered, mixedTargets } from '../support/mixed-workload.js';
import { tempDir } from '../support/temp.js';

/** Stops or starts this machine's PostgreSQL cluster (the test runs alone: see vitest.serial.config.ts). */
function postgres(action: 'stop' | 'start'): void {
  const version = readdirSync('/etc/postgresql')[0]!;
  execFileSync('pg_ctlcluster', ['--skip-systemctl-redirect', version, 'main', action], { stdio: 'inherit', timeout: 60_000 });
}

/** Sends until some instance stores it: answers during the outage are 503 and are retried with the same ids. */
async function sendUntilAccepted(urls: string[], path: string, messages: unknown[], deadline: number): Promise<any[]> {
  for (let attempt = 0; Date.now() < deadline; attempt++) {
    try {
      const res = await post(urls[attempt % urls.length]!, path, { messages });
      if (res.status === 202) return res.body.items;
      expect(res.status).toBe(503);
    } catch {
      // connection refused while an instance is busy: try again
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error('messages were never accepted');
}

const available = await postgresAvailable();

describe.skipIf(!available)('PostgreSQL restarted mid-run', () => {
  let receiver: FaultReceiver | undefined;
  let instances: OffloadProcess[] = [];
  const schema = testSchema();
  const dir = tempDir();
  afterEach(async () => {
    for (const proc of instances) await proc.kill('SIGKILL');
    await receiver?.close();
    await dropSchema(schema);
    dir.cleanup();
  });

  it('instances report not ready while it is down, recover on their own, and lose nothing', { timeout: 180_000 }, async () => {
    receiver = await createFaultReceiver({ exclusive: 'key', latencyMs: { min: 0, max: 3 } });
    const configPath = writeConfig(dir.path, {
      storage: { postgres: { url: TEST_PG_URL, schema, poolSize: 6 } },
      endpoints: { sink: { url: receiver.url, timeout: '5s', breaker: false } },
      delivery: { pollInterval: '250ms' },
      queues: {
        audits: { endpoint: 'sink', path: '/audits', concurrency: 16, lockDuration: '3s', minBackoff: '20ms', maxBackoff: '200ms' },
        provisionings: { preset: 'aggregate-fifo', endpoint: 'sink', path: '/fifo', concurrency: 16, lockDuration: '3s', minBackoff: '20ms', maxBackoff: '200ms' },
      },
      topics: { events: { subscriptions: { projector: { endpoint: 'sink', path: '/projector', batchSize: 20, lockDuration: '3s', minBackoff: '20ms', maxBackoff: '200ms' } } } },
    });
    instances = await Promise.all([0, 1].map(() => spawnOffload(configPath)));
    const urls = instances.map((p) => p.url);
    const accepted: Array<{ id: string; channel: string; key?: string; sequence?: number; order?: number }> = [];
    const deadline = Date.now() + 120_000;
    let restartedAt = 0;
    for (let round = 0; round < 30; round++) {
      const audits = Array.from({ length: 50 }, (_, i) => ({ id: `a-${round}-${i}`, data: {} }));
      for (const r of await sendUntilAccepted(urls, '/v1/queues/audits/messages/batch', audits, deadline)) accepted.push({ id: r.id, channel: 'audits' });
      const fifo = Array.from({ length: 20 }, (_, i) => ({ id: `f-${round}-${i}`, key: `k-${i}`, data: {} }));
      for (const r of await sendUntilAccepted(urls, '/v1/queues/provisionings/messages/batch', fifo, deadline)) accepted.push({ id: r.id, channel: 'provisionings', key: `k-${r.id.split('-')[2]}`, order: round });
      const events = Array.from({ length: 20 }, (_, i) => ({ id: `e-${round}-${i}`, data: {} }));
      for (const r of await sendUntilAccepted(urls, '/v1/topics/events/messages/batch', events, deadline)) accepted.push({ id: r.id, channel: 'events', sequence: r.sequence });
      if (round === 10) {
        postgres('stop');
        try {
          for (const u of urls) await expect.poll(async () => (await get(u, '/readyz')).status, { timeout: 20_000 }).toBe(503);
          const refused = await post(urls[0]!, '/v1/queues/audits/messages', { id: 'during-outage', data: {} });
          expect(refused.status).toBe(503);
          expect(refused.body.type).toBe('urn:offload:problem:store_unavailable');
        } finally {
          postgres('start');
        }
        restartedAt = receiver.now();
      }
    }
    const counts = { '/audits': 1_500, '/fifo': 600, '/projector': 600 };
    await allDelivered(receiver, counts, 90_000, 'everything delivered after the restart');
    const report = checkHistory({
      accepted,
      targets: mixedTargets(counts),
      deliveries: receiver.deliveries(),
      // Settlements that failed during the outage are redelivered: allowed duplicates.
      crashes: [{ from: restartedAt - 30_000, to: restartedAt + 5_000 }],
    });
    expect(report.ok, report.summary()).toBe(true);
    expect(receiver.overlaps()).toEqual([]);
    for (const u of urls) await expect.poll(async () => (await get(u, '/readyz')).status, { timeout: 20_000 }).toBe(200);
    expect(instances.every((p) => p.child.exitCode === null)).toBe(true);
  });
});
