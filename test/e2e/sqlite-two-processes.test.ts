import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { checkHistory } from '../../src/testing/index.js';
import { post, testReceiver } from '../support/offload.js';
import { spawnOffload, writeConfig } from '../support/process.js';
import { allDelivered, mixedTargets } from '../support/mixed-workload.js';
import { tempDir } from '../support/temp.js';

type Accepted = { id: string; channel: string; key?: string; sequence?: number; order?: number };

/*
 * SQLite is meant for one instance, but a second `offload serve` started on the same file by
 * mistake must do no harm: every claim, lease and settlement is a transaction of the file's one
 * writer, so nothing is lost, nothing delivered twice, keys stay in order and exclusive.
 */
describe('two processes on one SQLite file', () => {
  it('share the work without losing, repeating, reordering or overlapping any of it', { timeout: 120_000 }, async () => {
    const receiver = await testReceiver({ exclusive: 'key', latencyMs: { min: 0, max: 3 } });
    const dir = tempDir();
    onTestFinished(() => dir.cleanup());
    const configPath = writeConfig(dir.path, {
      storage: { sqlite: { path: join(dir.path, 'offload.db') } },
      endpoints: { sink: { url: receiver.url, breaker: false } },
      delivery: { pollInterval: '100ms' },
      queues: {
        audits: { endpoint: 'sink', path: '/audits', concurrency: 16 },
        provisionings: { preset: 'aggregate-fifo', endpoint: 'sink', path: '/fifo', concurrency: 16 },
      },
      topics: { events: { subscriptions: { projector: { endpoint: 'sink', path: '/projector', ordering: 'topic' }, billing: { endpoint: 'sink', path: '/billing', ordering: 'key', concurrency: 8 } } } },
    });
    const instances = await Promise.all([0, 1].map(() => spawnOffload(configPath)));

    const accepted: Accepted[] = [];
    for (let round = 0; round < 10; round++) {
      const [a, b] = round % 2 === 0 ? instances : [instances[1]!, instances[0]!];
      const audits = Array.from({ length: 60 }, (_, i) => ({ id: `a-${round}-${i}`, data: { round } }));
      const fifo = Array.from({ length: 40 }, (_, i) => ({ id: `f-${round}-${i}`, key: `tenant-${i % 10}`, data: { round, i } }));
      const events = Array.from({ length: 40 }, (_, i) => ({ id: `e-${round}-${i}`, key: `order-${i % 8}`, data: { round } }));
      const sent = await Promise.all([
        post(a!.url, '/v1/queues/audits/messages/batch', { messages: audits }),
        post(b!.url, '/v1/queues/provisionings/messages/batch', { messages: fifo }),
        post(round % 3 === 0 ? a!.url : b!.url, '/v1/topics/events/messages/batch', { messages: events }),
      ]);
      expect(sent.map((s) => s.status)).toEqual([202, 202, 202]);
      for (const r of sent[0].body.items) accepted.push({ id: r.id, channel: 'audits' });
      sent[1].body.items.forEach((r: { id: string }, i: number) => accepted.push({ id: r.id, channel: 'provisionings', key: fifo[i]!.key, order: round * 100 + i }));
      sent[2].body.items.forEach((r: { id: string; sequence: number }, i: number) => accepted.push({ id: r.id, channel: 'events', key: events[i]!.key, sequence: r.sequence }));
    }

    const counts = { '/audits': 600, '/fifo': 400, '/projector': 400, '/billing': 400 };
    await allDelivered(receiver, counts, 90_000, 'every message delivered');
    const report = checkHistory({ accepted, targets: mixedTargets(counts), deliveries: receiver.deliveries() });
    expect(report.ok, report.summary()).toBe(true);
    expect(report.duplicated).toEqual([]);
    expect(receiver.overlaps()).toEqual([]);
  });
});
