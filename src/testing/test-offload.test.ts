import { existsSync } from 'node:fs';
import { describe, expect, it, onTestFinished } from 'vitest';
import { always, createFaultReceiver, DrainIncompleteError, startTestOffload, type TestOffloadConfig } from './index.js';

async function receiver(options: Parameters<typeof createFaultReceiver>[0] = {}) {
  const r = await createFaultReceiver(options);
  onTestFinished(() => r.close());
  return r;
}

async function start(config: TestOffloadConfig, options?: Parameters<typeof startTestOffload>[1]) {
  const t = await startTestOffload(config, options);
  onTestFinished(() => t.close());
  return t;
}

describe('startTestOffload', () => {
  it('runs Offload on a temporary SQLite file and a free loopback port with drain on; close removes the files', async () => {
    const sink = await receiver();
    const previous = process.env.OFFLOAD_SQLITE_PATH;
    process.env.OFFLOAD_SQLITE_PATH = '/nonexistent/should-not-be-used.db';
    onTestFinished(() => {
      if (previous === undefined) delete process.env.OFFLOAD_SQLITE_PATH;
      else process.env.OFFLOAD_SQLITE_PATH = previous;
    });
    const t = await start({ endpoints: { sink: { url: sink.url } }, queues: { emails: { endpoint: 'sink', path: '/emails' } } });
    expect(t.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(t.offload.config.storage).toEqual({ sqlite: { path: `${t.dir}/offload.db`, durability: 'process' } });
    expect(existsSync(`${t.dir}/offload.db`)).toBe(true);
    expect(await (await fetch(`${t.url}/readyz`)).json()).toMatchObject({ status: 'ready', drain: 'enabled' });
    await t.client.send('emails', { id: 'welcome-1', data: { to: 'ada@example.com' } });
    const result = await t.drain();
    expect(result).toMatchObject({ complete: true, undelivered: [] });
    expect(sink.acceptedIds('/emails')).toEqual(['welcome-1']);
    await t.close();
    await t.close();
    expect(existsSync(t.dir)).toBe(false);
  });

  it('rejects a drain that runs out of time with what is still in flight', async () => {
    const sink = await receiver({ decide: always({ kind: 'hang' }) });
    const t = await start({ endpoints: { sink: { url: sink.url } }, queues: { emails: { endpoint: 'sink', path: '/emails' } } }, { drainTimeout: '200ms' });
    await t.client.send('emails', { id: 'stuck', data: {} });
    const error = await t.drain().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DrainIncompleteError);
    expect((error as DrainIncompleteError).message).toMatch(/^drain stopped by its timeout after 1 round\(s\) and \d+ms; still due or in flight: emails stuck \(in-flight\)$/);
    expect((error as DrainIncompleteError).result.stoppedBy).toBe('timeout');
  });

  it('sends the given API key, and refuses a configuration with a problem', async () => {
    const t = await start({ server: { apiKeys: [{ key: 'ops', role: 'operator' }] } }, { apiKey: 'ops' });
    expect((await t.drain()).complete).toBe(true);
    await expect(startTestOffload({ queues: { emails: { endpoint: 'missing' } } })).rejects.toThrow(/endpoint 'missing' is not defined/);
    // What it sets itself is refused, not silently replaced.
    await expect(startTestOffload({ storage: { postgres: { url: 'postgres://x@127.0.0.1/x' } } } as never)).rejects.toThrow(/startTestOffload sets storage itself/);
    await expect(startTestOffload({ server: { port: 8080 } } as never)).rejects.toThrow(/leave server.port out/);
    await expect(startTestOffload({ server: { host: '0.0.0.0' } })).rejects.toThrow(/listens on loopback only/);
    await expect(startTestOffload({}, { drainTimeout: Number.NaN })).rejects.toThrow(/drainTimeout must be a duration/);
    await expect(startTestOffload({ testing: { drain: false } } as never)).rejects.toThrow(/turns testing.drain on itself/);
    // What replaces nothing is taken.
    const same = await start({ storage: undefined, testing: {}, server: { port: 0, host: '127.0.0.1' } } as never);
    expect((await same.drain()).complete).toBe(true);
  });
});
