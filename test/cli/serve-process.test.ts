import { once } from 'node:events';
import { mkdirSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { onTestFinished, describe, expect, it } from 'vitest';
import { isOneLineError, runCli } from '../support/cli.js';
import { spawnOffload, writeConfig } from '../support/process.js';
import { testDir } from '../support/temp.js';

const minimalConfig = (dir: string) => writeConfig(dir, { storage: { sqlite: { path: join(dir, 'offload.db') } } });

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} within ${ms}ms`)), ms)));
  return Promise.race([promise, limit]).finally(() => clearTimeout(timer));
}

describe('offload serve under operators\' hands', () => {
  it('exits after SIGTERM even when its stdout is a closed pipe (offload serve | head)', async () => {
    const proc = await spawnOffload(minimalConfig(testDir()));
    // What `head -1` does after its first line: the reading end goes away.
    proc.child.stdout!.destroy();
    proc.child.kill('SIGTERM');
    expect(await within(proc.exited, 15_000, 'offload serve did not exit after SIGTERM'), proc.output()).toBe(0);
  });

  it('exits after SIGINT with a closed stdout too', async () => {
    const proc = await spawnOffload(minimalConfig(testDir()));
    proc.child.stdout!.destroy();
    proc.child.kill('SIGINT');
    expect(await within(proc.exited, 15_000, 'offload serve did not exit after SIGINT')).toBe(0);
  });

  it('says where the dashboard is when it starts', async () => {
    const proc = await spawnOffload(minimalConfig(testDir()));
    expect(proc.output()).toContain(`dashboard ${proc.url}/dashboard`);
  });

  it('a taken port: one line, no stack trace, exit 1', async () => {
    const taken = createServer();
    taken.listen(0, '127.0.0.1');
    await once(taken, 'listening');
    onTestFinished(() => new Promise<void>((done) => taken.close(() => done())));
    const port = (taken.address() as AddressInfo).port;
    const result = await runCli(['serve', '--config', minimalConfig(testDir()), '--port', String(port)]);
    expect(result.code).toBe(1);
    expect(isOneLineError(result.stderr), result.stderr).toBe(true);
    expect(result.stderr).toContain(`port ${port} on 127.0.0.1 is already in use`);
  });

  it('an unreadable configuration: one line, no stack trace, exit 1', async () => {
    const dir = testDir();
    mkdirSync(join(dir, 'a-folder.yaml'));
    for (const path of [join(dir, 'missing.yaml'), join(dir, 'a-folder.yaml')]) {
      const result = await runCli(['serve', '--config', path]);
      expect(result.code).toBe(1);
      expect(isOneLineError(result.stderr), result.stderr).toBe(true);
      expect(result.stderr).toContain(`cannot read configuration file ${path}`);
      // A missing file says how to get one; a folder is not missing.
      expect(result.stderr.includes('offload init')).toBe(path.endsWith('missing.yaml'));
    }
  });

  it('invalid command-line arguments: one line, no stack trace, exit 1', async () => {
    const cases: Array<{ args: string[]; says: string }> = [
      { args: ['send', 'emails', '--data', '{to:"a"}'], says: '--data is not JSON' },
      { args: ['serve', '--port', 'eighty'], says: 'expected a whole number' },
      { args: ['status', '--interval', 'soon'], says: "argument 'soon' is invalid" },
      { args: ['pause', 'lake', 'emails'], says: 'kind is queue or topic' },
      { args: ['deadletters', 'list'], says: "missing required argument 'queue'" },
      { args: ['no-such-command'], says: "unknown command 'no-such-command'" },
    ];
    for (const { args, says } of cases) {
      const result = await runCli(args, { env: { OFFLOAD_URL: 'http://127.0.0.1:9' } });
      expect(result.code, args.join(' ')).toBe(1);
      expect(isOneLineError(result.stderr), `${args.join(' ')}: ${result.stderr}`).toBe(true);
      expect(result.stderr).toContain(says);
    }
  });
});
