import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { checkHistory, type Delivery } from '../../src/testing/index.js';
import { post, testReceiver } from '../support/offload.js';
import { spawnOffload, writeConfig } from '../support/process.js';
import { testDir } from '../support/temp.js';

describe('crash recovery on SQLite', () => {
  it('SIGKILL with ~200 deliveries in flight: after a restart on the same file every message is delivered, duplicates only among those in flight', async () => {
    const dir = testDir();
    // Calls long enough that ~200 are in flight at once even when sends arrive slower than they are delivered.
    const receiver = await testReceiver({ otherwise: { kind: 'delay', ms: { min: 1_000, max: 1_500 } } });
    const configPath = writeConfig(dir, {
      storage: { sqlite: { path: join(dir, 'offload.db') } },
      endpoints: { sink: { url: receiver.url, timeout: '10s' } },
      queues: { emails: { preset: 'ancillary', endpoint: 'sink', path: '/emails', concurrency: 200, lockDuration: '2s', minBackoff: '50ms', maxBackoff: '1s' } },
    });
    let proc = await spawnOffload(configPath);
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
    const unsettled = ackedButUnsettled(join(dir, 'offload.db'), receiver.deliveries(), { '/emails': 'emails' });
    proc = await spawnOffload(configPath);
    await receiver.waitFor((r) => r.acceptCounts('/emails').size === 2_000, { timeoutMs: 60_000, description: 'all 2,000 delivered after restart' });
    const report = checkHistory({
      accepted,
      targets: [{ target: '/emails', channel: 'emails' }],
      deliveries: receiver.deliveries(),
      inFlightAtCrash: unsettled,
      crashes: [{ from: killedAt, to: restartedAt }],
    });
    expect(report.lost).toEqual([]);
    expect(report.unexpected).toEqual([]);
    expect(report.duplicatedUnexpected).toEqual([]);
    expect(report.duplicatedInFlight.length).toBeLessThanOrEqual(inFlightAtKill + 50);
    expect(inFlightAtKill).toBeGreaterThanOrEqual(150);
  });
});

describe('crash recovery of ordered workloads', () => {
  it('SIGKILL mid-run: topic order, fifo order and per-key exclusivity hold after a restart', async () => {
    const dir = testDir();
    const receiver = await testReceiver({ exclusive: 'key', latencyMs: { min: 1, max: 15 } });
    const configPath = writeConfig(dir, {
      storage: { sqlite: { path: join(dir, 'offload.db') } },
      endpoints: { sink: { url: receiver.url, timeout: '10s' } },
      queues: { provisionings: { preset: 'aggregate-fifo', endpoint: 'sink', path: '/fifo', concurrency: 32, lockDuration: '1s', minBackoff: '20ms' } },
      topics: {
        events: {
          subscriptions: {
            projector: { endpoint: 'sink', path: '/projector', ordering: 'topic', batchSize: 10, lockDuration: '1s' },
            billing: { endpoint: 'sink', path: '/billing', ordering: 'key', concurrency: 16, lockDuration: '1s' },
          },
        },
      },
    });
    let proc = await spawnOffload(configPath);
    const accepted: Array<{ id: string; channel: string; key?: string; sequence?: number; order?: number }> = [];
    for (let b = 0; b < 10; b++) {
      const fifo = Array.from({ length: 100 }, (_, i) => ({ id: `f-${b}-${i}`, key: `k-${i % 50}`, data: { b, i } }));
      const res = await post(proc.url, '/v1/queues/provisionings/messages/batch', { messages: fifo });
      fifo.forEach((m) => accepted.push({ id: m.id, channel: 'provisionings', key: m.key, order: b * 100 + m.data.i }));
      expect(res.status).toBe(202);
      const events = Array.from({ length: 100 }, (_, i) => ({ id: `t-${b}-${i}`, key: `o-${i % 20}`, data: { b, i } }));
      const pub = await post(proc.url, '/v1/topics/events/messages/batch', { messages: events });
      pub.body.items.forEach((r: { id: string; sequence: number }, i: number) => accepted.push({ id: r.id, channel: 'events', key: events[i]!.key, sequence: r.sequence }));
    }
    await receiver.waitFor((r) => r.acceptCounts('/fifo').size >= 200 && r.acceptCounts('/billing').size >= 200, { timeoutMs: 30_000 });
    const killedAt = receiver.now();
    await proc.kill('SIGKILL');
    const restartedAt = receiver.now();
    const unsettled = ackedButUnsettled(join(dir, 'offload.db'), receiver.deliveries(), { '/fifo': 'provisionings', '/projector': 'events/projector', '/billing': 'events/billing' });
    proc = await spawnOffload(configPath);
    await receiver.waitFor((r) => r.acceptCounts('/fifo').size === 1_000 && r.acceptCounts('/projector').size === 1_000 && r.acceptCounts('/billing').size === 1_000, { timeoutMs: 60_000 });
    const report = checkHistory({
      accepted,
      targets: [
        { target: '/fifo', channel: 'provisionings', ordering: 'key' },
        { target: '/projector', channel: 'events', ordering: 'topic' },
        { target: '/billing', channel: 'events', ordering: 'key' },
      ],
      deliveries: receiver.deliveries(),
      inFlightAtCrash: unsettled,
      crashes: [{ from: killedAt, to: restartedAt }],
    });
    expect(report.ok, report.summary()).toBe(true);
    expect(receiver.overlaps()).toEqual([]);
  });
});

/**
 * The ids the receiver acknowledged before the kill whose settlement had not been committed when
 * the process died: at-least-once allows exactly these (and those still in flight) to be sent
 * again. How long a 2xx waits for its commit depends on how loaded the machine is, so the file
 * itself says which answers were settled, not a guessed margin before the kill.
 */
function ackedButUnsettled(databasePath: string, deliveries: readonly Delivery[], channels: Record<string, string>): string[] {
  const db = new Database(databasePath);
  try {
    const settled = new Set(
      (db.prepare(`SELECT c.name AS channel, m.id AS id FROM deliveries d JOIN messages m ON m.pk = d.message_pk JOIN channels c ON c.id = d.target_id WHERE d.status = 'delivered'`).all() as Array<{ channel: string; id: string }>).map(
        (row) => `${row.channel} ${row.id}`,
      ),
    );
    return deliveries.filter((d) => d.outcome === 'ok' && !settled.has(`${channels[d.target]} ${d.id}`)).map((d) => d.id);
  } finally {
    db.close();
  }
}
