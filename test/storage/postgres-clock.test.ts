import { afterEach, describe, expect, it } from 'vitest';
import type { Clock } from '../../src/domain/clock.js';
import type { NewMessage } from '../../src/domain/message.js';
import { createPostgresStore, type PostgresStore } from '../../src/storage/postgres/index.js';
import { dropSchema, postgresAvailable, TEST_PG_URL, testSchema } from '../support/postgres.js';

const available = await postgresAvailable();

/** A host whose clock runs a minute ahead of everyone else's. */
const fastClock: Clock = { now: () => Date.now() + 60_000 };
const msg = (id: string): NewMessage => ({ id, key: null, type: 'audit', data: '{}', metadata: {}, deliverAt: null });

describe.skipIf(!available)('PostgreSQL stamps leases and retry times with the database clock', () => {
  const opened: PostgresStore[] = [];
  let schema = '';
  const open = async (options: { clock?: Clock; timeSource?: 'database' | 'clock' }) => {
    const store = createPostgresStore({ url: TEST_PG_URL, schema, poolSize: 2, ...options });
    opened.push(store);
    await store.migrate();
    return store;
  };
  afterEach(async () => {
    for (const store of opened.splice(0)) await store.close();
    await dropSchema(schema);
  });

  it('an instance whose host clock runs fast cannot take over a lease before it expires', async () => {
    schema = testSchema();
    const steady = await open({});
    await steady.declare([{ name: 'q', kind: 'queue' }]);
    await steady.send('q', [msg('a'), msg('b')]);
    const held = await steady.claim({ target: 'q', limit: 2, owner: 'steady', leaseMs: 5_000 });
    expect(held.flatMap((c) => c.deliveries.map((d) => d.message.id)).sort()).toEqual(['a', 'b']);

    const fast = await open({ clock: fastClock, timeSource: 'database' });
    expect(await fast.claim({ target: 'q', limit: 2, owner: 'fast', leaseMs: 5_000 })).toEqual([]);
    // What the database clock prevents: on its own clock the same instance takes both over.
    const fastOwnClock = await open({ clock: fastClock, timeSource: 'clock' });
    expect((await fastOwnClock.claim({ target: 'q', limit: 2, owner: 'fast', leaseMs: 5_000 })).length).toBe(2);
  });

  it('a fast host stamps retry times on the database timeline, so a peer does not retry them a minute early or late', async () => {
    schema = testSchema();
    const fast = await open({ clock: fastClock, timeSource: 'database' });
    await fast.declare([{ name: 'q', kind: 'queue' }]);
    await fast.send('q', [msg('a')]);
    const [claim] = await fast.claim({ target: 'q', limit: 1, owner: 'fast', leaseMs: 5_000 });
    const delivery = claim!.deliveries[0]!;
    const retryAt = fast.clock.now() + 200;
    await fast.settle([{ deliveryId: delivery.deliveryId, epoch: delivery.epoch, decision: { kind: 'retry', availableAt: retryAt, reason: 'HTTP 500' }, attempt: { attempt: 1, startedAt: retryAt - 200, durationMs: 1, statusCode: 500, error: null, response: null } }]);
    const steady = await open({});
    const wakeAt = await steady.nextWakeAt('q');
    expect(wakeAt).not.toBeNull();
    expect(Math.abs(wakeAt! - (Date.now() + 200))).toBeLessThan(5_000);
  });
});
