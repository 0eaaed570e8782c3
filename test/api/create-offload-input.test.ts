import { join } from 'node:path';
import { pino } from 'pino';
import { describe, expect, it, onTestFinished } from 'vitest';
import { ConfigError, ConflictError } from '../../src/domain/errors.js';
import { createOffload } from '../../src/offload.js';
import { post, testReceiver } from '../support/offload.js';
import { tempDir } from '../support/temp.js';

const silent = pino({ level: 'silent' });

/** Offload from a configuration object written as in offload.yaml: one queue delivering to a test receiver. */
async function startedWithEmails() {
  const receiver = await testReceiver();
  const dir = tempDir();
  onTestFinished(() => dir.cleanup());
  const offload = await createOffload({
    server: { port: 0 },
    storage: { sqlite: { path: join(dir.path, 'offload.db') } },
    endpoints: { app: { url: receiver.url } },
    queues: { emails: { endpoint: 'app', path: '/emails' } },
  }, { logger: silent });
  await offload.start();
  onTestFinished(() => offload.stop());
  return { receiver, offload };
}

describe('createOffload(config)', () => {
  it('takes a configuration as written in offload.yaml, as an object, and delivers with it', async () => {
    const { receiver, offload } = await startedWithEmails();
    expect((await post(offload.url, '/v1/queues/emails/messages', { id: 'welcome-1', data: { to: 'ada@example.com' } })).status).toBe(202);
    await receiver.waitFor((r) => r.acceptedIds().includes('welcome-1'));
    expect(receiver.records()[0]!.path).toBe('/emails');
  });

  it('refuses a second start() with a ConflictError and keeps the running instance working', async () => {
    const { receiver, offload } = await startedWithEmails();
    await expect(offload.start()).rejects.toBeInstanceOf(ConflictError);
    expect((await post(offload.url, '/v1/queues/emails/messages', { id: 'after-second-start', data: {} })).status).toBe(202);
    await receiver.waitFor((r) => r.acceptedIds().includes('after-second-start'));
  });

  it('refuses a wrong configuration object with a ConfigError naming the field, before opening anything', async () => {
    const dir = tempDir();
    onTestFinished(() => dir.cleanup());
    const attempt = createOffload({
      storage: { sqlite: { path: join(dir.path, 'offload.db') } },
      endpoints: { app: { url: 'http://127.0.0.1:9' } },
      queues: { emails: { endpoint: 'missing', path: '/emails' } },
    }, { logger: silent });
    await expect(attempt).rejects.toBeInstanceOf(ConfigError);
    await expect(attempt).rejects.toThrow(/queues\.emails\.endpoint/);
  });

  it.each([null, undefined, 42])('refuses %s as a configuration with a ConfigError, as any wrong one', async (input) => {
    await expect(createOffload(input as never, { logger: silent })).rejects.toMatchObject({ code: 'invalid_config', message: expect.stringContaining('expected object') });
  });
});
