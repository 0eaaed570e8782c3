/**
 * What stats() (behind `/v1/channels` and `/metrics`) costs with many messages kept, on both
 * stores: half of them delivered and waiting for the retention sweep, half still queued, and a
 * fifo queue with a tenth as many keys as messages, one message each (stats() counts its parked
 * and stalled lanes). It
 * times stats() alone, then a send issued while stats() runs (on SQLite both share one
 * connection and the event loop, so the send waits for whatever stats() does).
 *
 *   node --import tsx bench/stats-scale.ts [--messages 1000000] [--store sqlite|postgres|both]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import type { NewMessage } from '../src/domain/message.js';
import type { Store } from '../src/storage/port.js';
import { createPostgresStore } from '../src/storage/postgres/index.js';
import { createSqliteStore } from '../src/storage/sqlite/sqlite-store.js';

const { values } = parseArgs({ options: { messages: { type: 'string', default: '1000000' }, store: { type: 'string', default: 'both' } } });
const MESSAGES = Number(values.messages);
const PG_URL = process.env.OFFLOAD_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

const message = (id: string): NewMessage => ({ id, key: null, type: 'bench', data: '{"n":1}', metadata: {}, deliverAt: null });
const ms = (start: number) => Math.round((performance.now() - start) * 10) / 10;

async function fill(store: Store): Promise<void> {
  await store.declare([{ name: 'kept', kind: 'queue' }, { name: 'other', kind: 'queue' }, { name: 'keys', kind: 'fifo' }]);
  const batch = 1_000;
  for (let sent = 0; sent < MESSAGES; sent += batch) {
    await store.send('kept', Array.from({ length: batch }, (_, i) => message(`m${sent + i}`)));
    if (sent % (10 * batch) === 0) await store.send('keys', Array.from({ length: batch }, (_, i) => ({ ...message(`k${sent + i}`), key: `key-${sent + i}` })));
    // Deliver the first half: kept until the sweep, like messages within their retention.
    if (sent < MESSAGES / 2) {
      const claims = await store.claim({ target: 'kept', limit: batch, owner: 'bench', leaseMs: 60_000 });
      await store.settle(claims.flatMap((c) => c.deliveries.map((d) => ({
        deliveryId: d.deliveryId, epoch: d.epoch, decision: { kind: 'delivered' as const },
        attempt: { attempt: d.attempt, startedAt: Date.now(), durationMs: 1, statusCode: 200, error: null, response: null },
      }))));
    }
  }
}

async function measure(name: string, store: Store): Promise<void> {
  const started = performance.now();
  await fill(store);
  console.log(`${name}: ${MESSAGES} messages kept (${MESSAGES / 2} delivered, ${MESSAGES / 2} queued), ${MESSAGES / 10} fifo keys, in ${Math.round(ms(started) / 1000)} s`);
  const alone: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t = performance.now();
    const stats = await store.stats();
    alone.push(ms(t));
    if (i === 0) console.log(`  stats: ${JSON.stringify(stats.find((s) => s.name === 'kept'))}`);
  }
  const during: Array<{ stats: number; send: number }> = [];
  for (let i = 0; i < 5; i++) {
    const t = performance.now();
    const scrape = store.stats().then(() => ms(t));
    const send = store.send('other', [message(`during-${i}`)]).then(() => ms(t));
    const [s, p] = await Promise.all([scrape, send]);
    during.push({ stats: s, send: p });
  }
  console.log(`  stats() alone, ms: ${alone.join(', ')}`);
  console.log(`  stats() with a send issued during it, ms (stats / send): ${during.map((d) => `${d.stats} / ${d.send}`).join(', ')}`);
}

if (values.store !== 'postgres') {
  const dir = mkdtempSync(join(tmpdir(), 'offload-stats-'));
  const store = createSqliteStore({ path: join(dir, 'stats.db') });
  try {
    await measure('SQLite', store);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
if (values.store !== 'sqlite') {
  const schema = `offload_bench_stats_${process.pid}`;
  const store = createPostgresStore({ url: PG_URL, schema });
  try {
    await measure('PostgreSQL', store);
  } finally {
    await store.close();
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await client.end();
  }
}
