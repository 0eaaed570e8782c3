import Database from 'better-sqlite3';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { newMessage } from '../../src/domain/message.js';
import { get, post, startOffload, testReceiver } from '../support/offload.js';
import { tempDir } from '../support/temp.js';

describe('a bad message does not hurt the endpoint\'s other traffic', () => {
  it('40 messages the HTTP client refuses fail permanently (dead-lettered, parked, stalled) without opening the breaker another queue shares', { timeout: 60_000 }, async () => {
    const receiver = await testReceiver();
    const dir = tempDir();
    onTestFinished(() => dir.cleanup());
    const path = join(dir.path, 'offload.db');
    const offload = await startOffload({
      storage: { sqlite: { path } },
      // One origin for both teams; a breaker that opens after 5 failures would stop both.
      endpoints: { shared: { url: receiver.url, breaker: { consecutiveFailures: 5, coolDown: '30s' } } },
      queues: {
        imports: { endpoint: 'shared', path: '/imports', concurrency: 8, minBackoff: '10ms', maxBackoff: '50ms', maxAttempts: 10 },
        orders: { endpoint: 'shared', path: '/orders', kind: 'fifo' },
        audits: { endpoint: 'shared', path: '/audits', concurrency: 8 },
      },
      topics: { events: { subscriptions: { projector: { endpoint: 'shared', path: '/projector', maxBackoff: '1m' } } } },
    });

    // Stored as an older version could have stored them (stores now refuse such metadata):
    // stored while paused, then given unsendable headers in the database itself.
    for (const channel of ['queues/imports', 'queues/orders', 'topics/events']) expect((await post(offload.url, `/v1/${channel}/pause`, undefined)).status).toBe(200);
    const bad = Array.from({ length: 40 }, (_, i) => ({ id: `bad-${i}`, metadata: i % 2 === 0 ? { headers: { 'x-team': 'a\r\nx-injected: 1' } } : { traceparent: '00-bad\nvalue' } }));
    await offload.store.send('imports', bad.map(({ id }) => newMessage({ id, type: 'import.requested', data: { id } })));
    await offload.store.send('orders', [newMessage({ id: 'order-1', key: 'o1', type: 'order.placed', data: {} })]);
    await offload.store.send('events', [newMessage({ id: 'event-1', type: 'thing.happened', data: {} })]);
    const db = new Database(path);
    const rewrite = db.prepare('UPDATE messages SET metadata = ? WHERE id = ?');
    for (const { id, metadata } of bad) rewrite.run(JSON.stringify(metadata), id);
    rewrite.run(JSON.stringify({ headers: { 'bad name': 'x' } }), 'order-1');
    rewrite.run(JSON.stringify({ headers: { 'x-trace': 'a\u0000b' } }), 'event-1');
    db.close();
    for (const channel of ['queues/imports', 'queues/orders', 'topics/events']) expect((await post(offload.url, `/v1/${channel}/resume`, undefined)).status).toBe(200);
    const good = Array.from({ length: 50 }, (_, i) => ({ id: `audit-${i}`, data: { i } }));
    expect((await post(offload.url, '/v1/queues/audits/messages/batch', { messages: good })).status).toBe(202);

    await receiver.waitFor((r) => r.acceptCounts('/audits').size === 50, { timeoutMs: 20_000 });
    await expect.poll(async () => (await get(offload.url, '/v1/queues/imports/deadletters?limit=100')).body.items.length, { timeout: 20_000 }).toBe(40);

    const letters = (await get(offload.url, '/v1/queues/imports/deadletters?limit=100')).body.items as Array<{ id: string; attempts: number; lastError: string }>;
    for (const letter of letters) {
      expect(letter.attempts).toBe(1);
      expect(letter.lastError).toMatch(/^permanent failure: request refused before sending: /);
    }
    const order = (await get(offload.url, '/v1/messages/order-1')).body;
    await expect.poll(async () => (await get(offload.url, '/v1/messages/order-1')).body.status, { timeout: 10_000 }).toBe('parked');
    expect(order.deliveries[0].attempts).toBeLessThanOrEqual(1);
    expect((await get(offload.url, '/v1/queues/orders/parked')).body.items[0].reason).toMatch(/request refused before sending: header 'bad name'/);

    await expect.poll(async () => (await get(offload.url, '/v1/messages/event-1')).body.status, { timeout: 10_000 }).toBe('stalled');
    expect((await get(offload.url, '/v1/messages/event-1')).body.deliveries[0].lastError).toMatch(/^request refused before sending: header 'x-trace'/);

    expect(receiver.records().filter((r) => r.path !== '/audits')).toEqual([]);
    const breaker = (await get(offload.url, '/v1/breakers')).body.items.find((b: { endpoints: string[] }) => b.endpoints.includes('shared'));
    expect(breaker?.state ?? 'closed').toBe('closed');
    // Traffic after the bad messages still flows.
    expect((await post(offload.url, '/v1/queues/audits/messages', { id: 'audit-after', data: {} })).status).toBe(202);
    await receiver.waitFor((r) => r.acceptCounts('/audits').has('audit-after'), { timeoutMs: 5_000 });
  });
});
