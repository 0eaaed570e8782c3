import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { pino } from 'pino';
import { describe, expect, it, onTestFinished } from 'vitest';
import { parse } from 'yaml';
import { buildConfig } from '../../src/config/load.js';
import { createOffload } from '../../src/offload.js';
import { runProducer } from '../../examples/producer.js';
import { createExampleReceiver } from '../../examples/receiver.js';
import { testDir } from '../support/temp.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const TSX = pathToFileURL(join(ROOT, 'node_modules/tsx/dist/loader.mjs')).href;
const silent = () => undefined;

/**
 * Every line of a shell block (```sh) that starts with `curl`, `offload` or `npx offload`,
 * continuation lines joined. What a reader would paste.
 */
export function shellCommands(markdown: string): string[] {
  const commands: string[] = [];
  for (const block of markdown.matchAll(/^```(?:sh|bash|shell)\n([\s\S]*?)^```/gm)) {
    const lines = block[1]!.replace(/\\\n\s*/g, ' ').split('\n');
    for (const line of lines) if (/^(curl|offload|npx offload)\s/.test(line.trim())) commands.push(line.trim());
  }
  return commands;
}

/** `npm start`'s setup on free ports: the example receiver, Offload on examples/offload.yaml, a few rounds of work. */
async function startDemo() {
  const dir = testDir('offload-readme-');
  const receiver = await createExampleReceiver({ port: 0, failureRate: 0, log: silent });
  onTestFinished(() => receiver.close());
  const raw = parse(readFileSync(join(ROOT, 'examples/offload.yaml'), 'utf8')) as { server: { port: number }; storage: { sqlite: { path: string } }; endpoints: { ancillary: { url: string } } };
  raw.server.port = 0;
  raw.storage.sqlite.path = join(dir, 'offload.db');
  raw.endpoints.ancillary.url = receiver.url;
  const offload = await createOffload(buildConfig(raw, { env: {} }), { logger: pino({ level: 'silent' }) });
  await offload.start();
  onTestFinished(() => offload.stop());
  await runProducer({ baseUrl: offload.url, rounds: 4, intervalMs: 10, runId: 'readme', log: silent });
  const items = async (path: string) => ((await (await fetch(`${offload.url}${path}`)).json()) as { items: Array<{ id?: string; key?: string }> }).items;
  const deadline = Date.now() + 30_000;
  let dead = await items('/v1/queues/smses/deadletters');
  let parked = await items('/v1/queues/tenant-provisionings/parked');
  while (dead.length === 0 || parked.length === 0) {
    if (Date.now() > deadline) throw new Error('the demo has no dead letter or no parked tenant after 30s');
    await new Promise((r) => setTimeout(r, 100));
    dead = await items('/v1/queues/smses/deadletters');
    parked = await items('/v1/queues/tenant-provisionings/parked');
  }
  return { dir, offload: new URL(offload.url).host, receiver: new URL(receiver.url).host, id: dead[0]!.id!, tenant: parked[0]!.key!, url: offload.url };
}

type Demo = Awaited<ReturnType<typeof startDemo>>;

/** The line as a reader runs it, on the demo's ports and with its ids; curl fails on a non-2xx answer. */
function runnable(command: string, demo: Demo): string {
  return command
    .replace(/^npx offload /, 'offload ')
    .replace(/\b(localhost|127\.0\.0\.1):8080\b/g, demo.offload)
    .replace(/\b(localhost|127\.0\.0\.1):9000\b/g, demo.receiver)
    .replaceAll('<id>', demo.id)
    .replaceAll('<tenant>', demo.tenant)
    .replace(/^curl /, 'curl --fail-with-body --max-time 10 ');
}

function run(script: string, demo: Demo): Promise<{ code: number | null; output: string }> {
  const offload = `offload() { "${process.execPath}" --import "${TSX}" "${join(ROOT, 'src/cli/main.ts')}" "$@"; }`;
  const child = spawn('bash', ['-c', `${offload}\n${script}`], {
    cwd: demo.dir,
    env: { ...process.env, OFFLOAD_URL: demo.url, NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr.on('data', (c: Buffer) => (output += c.toString()));
  return new Promise((done) => child.on('close', (code) => done({ code, output })));
}

/** Lines that start a long-running server or need another machine: the demo itself is `offload serve`. */
const NOT_RUN = /^offload serve /;

describe('README commands run as written', () => {
  for (const file of ['README.md', 'examples/README.md']) {
    it(`every curl and offload line of ${file} succeeds against a demo instance`, { timeout: 240_000 }, async () => {
      const commands = shellCommands(readFileSync(join(ROOT, file), 'utf8'));
      expect(commands.length).toBeGreaterThan(5);
      const demo = await startDemo();
      const failures: string[] = [];
      for (const command of commands) {
        if (NOT_RUN.test(command)) continue;
        const line = runnable(command, demo);
        const { code, output } = await run(line, demo);
        // A live event stream only ends at --max-time (curl exit 28).
        const ok = code === 0 || (code === 28 && /\/v1\/events\b/.test(line));
        if (!ok) failures.push(`${command}\n  → exit ${code}: ${output.trim().split('\n').slice(0, 3).join(' | ')}`);
      }
      expect(failures, failures.join('\n')).toEqual([]);
    });
  }
});
