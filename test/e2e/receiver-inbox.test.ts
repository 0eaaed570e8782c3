import Database from 'better-sqlite3';
import { join } from 'node:path';
import pg from 'pg';
import { describe, expect, it, onTestFinished } from 'vitest';
import { createReceiver, postgresInbox, sqliteInbox, type DeliveryContext, type Inbox, type ReceivedEvent, type Receiver } from '../../src/receiver/index.js';
import { FRAMEWORKS, mountReceivers, type Framework } from '../support/framework-servers.js';
import { get, post, startOffload } from '../support/offload.js';
import { dropSchema, postgresAvailable, TEST_PG_URL, testSchema } from '../support/postgres.js';
import { testDir } from '../support/temp.js';
import { until } from '../support/until.js';

const SECRET = 'whsec_' + Buffer.from('inbox-end-to-end-secret-0000000').toString('base64');

/** The receiver's own database: an inbox and a table of side effects, on SQLite or PostgreSQL. */
interface AppDatabase {
  inbox: Inbox<unknown>;
  applyEffect(tx: unknown, id: string): Promise<void>;
  effects(): Promise<string[]>;
}

async function sqliteApp(): Promise<AppDatabase> {
  const db = new Database(join(testDir(), 'receiver.db'));
  onTestFinished(() => void db.close());
  db.exec('CREATE TABLE effects (id TEXT NOT NULL)');
  return {
    inbox: sqliteInbox(db) as Inbox<unknown>,
    async applyEffect(tx, id) {
      (tx as Database.Database).prepare('INSERT INTO effects (id) VALUES (?)').run(id);
    },
    effects: async () => (db.prepare('SELECT id FROM effects ORDER BY id').all() as Array<{ id: string }>).map((r) => r.id),
  };
}

async function postgresApp(): Promise<AppDatabase> {
  const schema = testSchema();
  const pool = new pg.Pool({ connectionString: TEST_PG_URL, max: 4 });
  onTestFinished(async () => {
    await pool.end();
    await dropSchema(schema);
  });
  await pool.query(`CREATE SCHEMA "${schema}"; CREATE TABLE "${schema}".effects (id text NOT NULL)`);
  return {
    inbox: postgresInbox(pool, { table: `${schema}.offload_inbox` }) as Inbox<unknown>,
    async applyEffect(tx, id) {
      await (tx as pg.PoolClient).query(`INSERT INTO "${schema}".effects (id) VALUES ($1)`, [id]);
    },
    effects: async () => (await pool.query(`SELECT id FROM "${schema}".effects ORDER BY id`)).rows.map((r) => r.id as string),
  };
}

/** Counts arrivals per Idempotency-Key before the inbox sees them, so a test can wait for a retry. */
function counted(receiver: Receiver, arrivals: Map<string, number>): Receiver {
  const count = (key: string | null | undefined) => void (key && arrivals.set(key, (arrivals.get(key) ?? 0) + 1));
  return {
    maxBodyBytes: receiver.maxBodyBytes,
    handle: (delivery) => (count(delivery.header('idempotency-key')), receiver.handle(delivery)),
    fetch: (request) => (count(request.headers.get('idempotency-key')), receiver.fetch(request)),
  };
}

const pgUp = await postgresAvailable();
const cases: Array<{ framework: Framework; db: 'SQLite' | 'PostgreSQL'; offloadOnPostgres: boolean }> = [
  ...FRAMEWORKS.map((framework) => ({ framework, db: 'SQLite' as const, offloadOnPostgres: false })),
  ...FRAMEWORKS.map((framework) => ({ framework, db: 'PostgreSQL' as const, offloadOnPostgres: framework === 'fastify' })),
];

describe.each(cases)('inbox on $db behind $framework (Offload on PostgreSQL: $offloadOnPostgres)', ({ framework, db, offloadOnPostgres }) => {
  it.skipIf((db === 'PostgreSQL' || offloadOnPostgres) && !pgUp)('a crash mid-handler, a timeout and a redrive each leave exactly one side effect', async () => {
    const app = db === 'SQLite' ? await sqliteApp() : await postgresApp();
    const arrivals = new Map<string, number>();
    let offloadUrl = '';
    const messageStatus = async (id: string) => (await get(offloadUrl, `/v1/messages/${id}`)).body.status as string;
    let handlerRuns = 0;

    const handle = async (event: ReceivedEvent, ctx: DeliveryContext<unknown>) => {
      handlerRuns++;
      await app.applyEffect(ctx.tx, event.id);
      const mode = (event.data as { mode: string }).mode;
      // The write above is rolled back: the receiver failed before committing.
      if (mode === 'crash' && ctx.attempt === 1) throw new Error('receiver crashed mid-handler');
      // Still working when Offload gives up on the call and tries again; the retry waits on the inbox.
      if (mode === 'slow' && ctx.attempt === 1) await until('the retry arrives', () => (arrivals.get(event.id) ?? 0) >= 2, 15_000);
      // The only attempt times out, the message is dead-lettered, and only then the work commits.
      if (mode === 'late') await until('dead-lettered', async () => (await messageStatus(event.id)) === 'deadlettered', 15_000);
    };
    const receiver = counted(createReceiver({ secrets: SECRET, handlers: { '*': handle }, inbox: app.inbox, onError: () => {} }), arrivals);
    const mounted = await mountReceivers(framework, { '/work': receiver });

    const schema = testSchema();
    if (offloadOnPostgres) onTestFinished(() => dropSchema(schema));
    const queue = { preset: 'ancillary', endpoint: 'app', path: '/work', minBackoff: '10ms', maxBackoff: '50ms', timeout: '500ms' } as const;
    const offload = await startOffload({
      ...(offloadOnPostgres ? { storage: { postgres: { url: TEST_PG_URL, schema } } } : {}),
      endpoints: { app: { url: mounted.url, secret: SECRET } },
      queues: { work: { ...queue, maxAttempts: 5 }, once: { ...queue, maxAttempts: 1 } },
    });
    offloadUrl = offload.url;

    const send = (queueName: string, id: string, mode: string) => post(offload.url, `/v1/queues/${queueName}/messages`, { id, type: 'work.requested', data: { mode } });
    await send('work', 'ok-1', 'ok');
    await send('work', 'crash-1', 'crash');
    await send('work', 'slow-1', 'slow');
    await send('once', 'late-1', 'late');
    for (const id of ['ok-1', 'crash-1', 'slow-1']) await until(`${id} delivered`, async () => (await messageStatus(id)) === 'delivered', 15_000);
    await until('late-1 dead-lettered', async () => (await messageStatus('late-1')) === 'deadlettered', 15_000);

    const slow = (await get(offload.url, '/v1/messages/slow-1')).body.deliveries[0].history as Array<{ statusCode: number | null; error: string | null; response: string | null }>;
    expect(slow[0]).toMatchObject({ statusCode: null, error: 'timeout' });
    expect(slow.at(-1)).toMatchObject({ statusCode: 200 });
    expect(slow.at(-1)!.response).toMatch(/"duplicate":true/);

    // The late work has committed by now (it waited for the dead letter); a redrive is a duplicate.
    await until('late-1 committed', async () => (await app.effects()).includes('late-1'), 15_000);
    expect((await post(offload.url, '/v1/queues/once/deadletters/redrive', {})).body).toEqual({ redriven: 1 });
    await until('late-1 delivered after the redrive', async () => (await messageStatus('late-1')) === 'delivered', 15_000);

    expect(await app.effects()).toEqual(['crash-1', 'late-1', 'ok-1', 'slow-1']);
    // ok 1, crash 2 (the first rolled back), slow 1 (its retry never ran the handler), late 1.
    expect(handlerRuns).toBe(5);
  });
});
