import Database from 'better-sqlite3';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { newMessage } from '../../src/domain/message.js';
import { createSqliteStore, type SqliteStore } from '../../src/storage/sqlite/sqlite-store.js';
import { checkHistory, createFaultReceiver, type FaultReceiver } from '../../src/testing/index.js';
import { startOffload, type TestOffload } from '../support/offload.js';
import { tempDir } from '../support/temp.js';

describe('transactional outbox on SQLite', () => {
  let receiver: FaultReceiver | undefined;
  let offload: TestOffload | undefined;
  let app: Database.Database | undefined;
  let outbox: SqliteStore | undefined;
  const dir = tempDir();
  afterEach(async () => {
    app?.close();
    await outbox?.close();
    await offload?.cleanup();
    await receiver?.close();
    dir.cleanup();
  });

  it('state and events commit together: a rolled-back transaction publishes nothing, a committed one exactly once, in commit order', async () => {
    receiver = await createFaultReceiver();
    const path = join(dir.path, 'app.db');
    offload = await startOffload({
      storage: { sqlite: { path } },
      delivery: { pollInterval: '100ms' },
      endpoints: { sink: { url: receiver.url } },
      topics: { orders: { subscriptions: { projector: { endpoint: 'sink', path: '/projector' } } } },
    });
    // The application: its own connection and tables in the same file, and an outbox handle.
    app = new Database(path);
    app.pragma('busy_timeout = 5000');
    app.exec('CREATE TABLE orders (id TEXT PRIMARY KEY, state TEXT NOT NULL)');
    outbox = createSqliteStore({ path });
    const place = app.transaction((id: string, fail: boolean) => {
      app!.prepare('INSERT INTO orders (id, state) VALUES (?, ?)').run(id, 'placed');
      const [result] = outbox!.sendWithin(app!, 'orders', [newMessage({ id: `placed-${id}`, key: id, type: 'OrderPlaced', data: { id } })]);
      if (fail) throw new Error('payment declined');
      return result!;
    });

    const accepted: Array<{ id: string; channel: string; sequence: number }> = [];
    for (let i = 0; i < 50; i++) {
      if (i % 5 === 4) {
        expect(() => place(`o-${i}`, true)).toThrow('payment declined');
        continue;
      }
      const result = place(`o-${i}`, false);
      accepted.push({ id: result.id, channel: 'orders', sequence: result.sequence! });
    }
    // Retrying a committed transaction's publish is answered as a duplicate, stored once.
    const again = app.transaction(() => outbox!.sendWithin(app!, 'orders', [newMessage({ id: 'placed-o-0', key: 'o-0', type: 'OrderPlaced', data: {} })]))();
    expect(again[0]).toMatchObject({ id: 'placed-o-0', duplicate: true });

    await receiver.waitFor((r) => r.acceptCounts('/projector').size === 40, { timeoutMs: 10_000 });
    expect(accepted.map((a) => a.sequence)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    const report = checkHistory({ accepted, targets: [{ target: '/projector', channel: 'orders', ordering: 'topic' }], deliveries: receiver.deliveries() });
    expect(report.ok, report.summary()).toBe(true);
    expect(report.duplicated).toEqual([]);
    expect(receiver.acceptedIds('/projector').some((id) => id.endsWith('-4'))).toBe(false);
    expect((app.prepare('SELECT COUNT(*) AS n FROM orders').get() as { n: number }).n).toBe(40);
  });
});
