import Database from 'better-sqlite3';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { createReceiver, sqliteInbox, type DeliveryContext, type ReceivedEvent, type Receiver } from '../../src/receiver/index.js';
import { mountReceivers } from '../support/framework-servers.js';
import { get, post, startOffload } from '../support/offload.js';
import { testDir } from '../support/temp.js';

const SECRET = 'replay-end-to-end-secret';
const EVENTS = 10_000;
const KEYS = 97;

/**
 * A read model kept by a receiver in its own SQLite file: per account, a running state that
 * depends on the order of its events, the count applied, and the last event. Inbox, lane
 * positions (`inOrder`) and model share one database, so each event commits with its inbox row.
 */
function readModel(name: string) {
  const db = new Database(join(testDir(), `${name}.db`));
  onTestFinished(() => void db.close());
  // WAL without a flush per commit: the model's durability is not what this test is about.
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.exec('CREATE TABLE model (account TEXT PRIMARY KEY, state INTEGER NOT NULL, applied INTEGER NOT NULL, last TEXT NOT NULL)');
  const apply = db.prepare(`INSERT INTO model (account, state, applied, last) VALUES (@account, @amount, 1, @id)
    ON CONFLICT (account) DO UPDATE SET state = (state * 31 + @amount) % 1000000007, applied = applied + 1, last = @id`);
  let applied = 0;
  const positions: number[] = [];
  const waiters: Array<{ count: number; resolve: () => void }> = [];
  const receiver: Receiver = createReceiver({
    secrets: SECRET,
    inbox: sqliteInbox(db),
    inOrder: true,
    handlers: {
      'account.changed': (event: ReceivedEvent, ctx: DeliveryContext<Database.Database>) => {
        const data = event.data as { account: string; amount: number };
        apply.run({ account: data.account, amount: data.amount, id: event.id });
        positions.push(ctx.lane!.position);
        applied++;
        for (const w of waiters.filter((x) => applied >= x.count)) w.resolve();
      },
    },
  });
  return {
    receiver,
    positions,
    applied: () => applied,
    /** Resolves once this many events were applied (each resolves on the event that reaches it). */
    reached: (count: number) => (applied >= count ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ count, resolve }))),
    snapshot: () => db.prepare('SELECT account, state, applied, last FROM model ORDER BY account').all(),
  };
}

describe('replaying a topic rebuilds a read model', () => {
  it(`builds a read model from ${EVENTS} events, rebuilds it from scratch by seeking to sequence 1, and gets the same model`, { timeout: 300_000 }, async () => {
    const original = readModel('original');
    let current = original;
    // One path whose receiver the test swaps: the rebuilt model starts with an empty database.
    const mounted = await mountReceivers('fetch', { '/model': { maxBodyBytes: original.receiver.maxBodyBytes, handle: (d) => current.receiver.handle(d), fetch: (r) => current.receiver.fetch(r) } });
    const offload = await startOffload({
      endpoints: { app: { url: mounted.url, secret: SECRET } },
      topics: { accounts: { retention: '30d', subscriptions: { model: { endpoint: 'app', path: '/model', ordering: 'topic', batchSize: 200, minBackoff: '10ms', maxBackoff: '100ms' } } } },
    });
    for (let start = 0; start < EVENTS; start += 1000) {
      const messages = Array.from({ length: 1000 }, (_, i) => {
        const n = start + i;
        return { id: `ev-${n}`, type: 'account.changed', key: `acct-${n % KEYS}`, data: { account: `acct-${n % KEYS}`, amount: (n * 7919) % 1000 } };
      });
      const sent = await post(offload.url, '/v1/topics/accounts/messages/batch', { messages });
      expect(sent.status).toBe(202);
    }
    await original.reached(EVENTS);
    const settled = () => expect.poll(async () => (await get(offload.url, '/v1/topics/accounts/subscriptions/model')).body.depth, { timeout: 30_000 }).toBe(0);
    await settled();
    const built = original.snapshot();
    expect(built).toHaveLength(KEYS);
    expect(original.positions.slice(0, 3)).toEqual([1, 2, 3]);

    // Start over: a new, empty read model (its own inbox and lane positions), then replay everything.
    const rebuilt = readModel('rebuilt');
    current = rebuilt;
    const seek = await post(offload.url, '/v1/topics/accounts/subscriptions/model/seek', { sequence: 1 });
    expect(seek.status).toBe(200);
    expect(seek.body).toEqual({ subscription: 'accounts/model', sequence: 1, replayed: EVENTS, skipped: 0, fenced: 0 });
    await rebuilt.reached(EVENTS);
    await settled();
    expect(rebuilt.snapshot()).toEqual(built);
    expect(rebuilt.applied()).toBe(EVENTS);
    // Replayed events carry the positions they had: 1..N again, gap-free.
    expect(rebuilt.positions).toEqual(original.positions);

    // A replay of what a receiver applied already is answered as duplicates (nothing stalls, the
    // model does not change), and the next event is applied at the position after the last.
    const tail = await post(offload.url, '/v1/topics/accounts/subscriptions/model/seek', { sequence: EVENTS - 99 });
    expect(tail.body).toMatchObject({ sequence: EVENTS - 99, replayed: 100 });
    const next = await post(offload.url, '/v1/topics/accounts/messages', { id: 'ev-last', type: 'account.changed', key: 'acct-0', data: { account: 'acct-0', amount: 5 } });
    expect(next.status).toBe(202);
    await rebuilt.reached(EVENTS + 1);
    expect(rebuilt.positions.at(-1)).toBe(EVENTS + 1);
    expect(rebuilt.applied()).toBe(EVENTS + 1);
    await settled();
    const view = await get(offload.url, '/v1/topics/accounts/subscriptions/model');
    expect(view.body).toMatchObject({ stalled: false, depth: 0, lastSequence: EVENTS + 1 });
  });
});
