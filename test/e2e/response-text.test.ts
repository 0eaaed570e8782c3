import { describe, expect, it, onTestFinished } from 'vitest';
import type { ConfigInput } from '../../src/config/schema.js';
import { get, post, startOffload, testReceiver } from '../support/offload.js';
import { dropSchema, postgresAvailable, TEST_PG_URL, testSchema } from '../support/postgres.js';

const pgUp = await postgresAvailable();

function storageOf(db: 'SQLite' | 'PostgreSQL'): ConfigInput['storage'] | undefined {
  if (db === 'SQLite') return undefined;
  const schema = testSchema();
  onTestFinished(() => dropSchema(schema));
  return { postgres: { url: TEST_PG_URL, schema, poolSize: 4 } };
}

describe.each(['SQLite', 'PostgreSQL'] as const)('response bodies kept as text, on %s', (db) => {
  it.skipIf(db === 'PostgreSQL' && !pgUp)('a body with NUL bytes is kept with U+FFFD in their place: the attempt settles (PostgreSQL text holds no NUL)', async () => {
    const delivered = await testReceiver({ otherwise: { kind: 'status', status: 200, body: 'ok\u0000done' } });
    const refusing = await testReceiver({ otherwise: { kind: 'status', status: 422, body: 'bad\u0000input' } });
    const offload = await startOffload({
      storage: storageOf(db),
      endpoints: { ok: { url: delivered.url }, no: { url: refusing.url } },
      queues: { jobs: { endpoint: 'ok', path: '/jobs' }, refused: { endpoint: 'no', path: '/refused', maxAttempts: 1 } },
    });
    expect((await post(offload.url, '/v1/queues/jobs/messages', { id: 'j1', data: {} })).status).toBe(202);
    expect((await post(offload.url, '/v1/queues/refused/messages', { id: 'r1', data: {} })).status).toBe(202);
    await expect.poll(async () => (await get(offload.url, '/v1/messages/j1')).body.status, { timeout: 15_000 }).toBe('delivered');
    expect((await get(offload.url, '/v1/messages/j1')).body.deliveries[0]).toMatchObject({ attempts: 1, result: 'ok\uFFFDdone' });
    await expect.poll(async () => (await get(offload.url, '/v1/messages/r1')).body.status, { timeout: 15_000 }).toBe('deadlettered');
    const refused = (await get(offload.url, '/v1/messages/r1')).body.deliveries[0];
    expect(refused.attempts).toBe(1);
    expect(refused.history[0]).toMatchObject({ statusCode: 422, response: 'bad\uFFFDinput' });
  });
});
