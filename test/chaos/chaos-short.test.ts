import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** A fixed seed keeps the fault schedule the same from run to run; override it to explore. */
const SEED = process.env.OFFLOAD_CHAOS_SEED ?? '20240611';

function runChaos(args: string[]): { child: ChildProcess; done: Promise<{ code: number | null; output: string }> } {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'chaos/run.ts'), ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const done = new Promise<{ code: number | null; output: string }>((resolveDone) => child.on('exit', (code) => resolveDone({ code, output })));
  return { child, done };
}

describe('chaos (short run on SQLite)', () => {
  let child: ChildProcess | undefined;
  afterEach(() => {
    // SIGINT makes the runner kill its Offload processes before it exits.
    if (child && child.exitCode === null) child.kill('SIGINT');
  });

  it('60 s of random faults, SIGKILLs and operator actions: nothing lost, no unexpected duplicate, order and exclusivity hold', async () => {
    const run = runChaos(['--duration', '60s', '--drain-timeout', '30s', '--seed', SEED, '--progress-every', '10s']);
    child = run.child;
    const { code, output } = await run.done;
    const tail = output.slice(-6_000);
    // The run's own account (faults, crashes, operator actions, verdict) belongs in the CI log.
    console.log(output.slice(output.indexOf('requests received')));
    expect(output, tail).toMatch(/^VERDICT OK: /m);
    expect(code, tail).toBe(0);
    const kills = Number(/crashes: (\d+) SIGKILL/.exec(output)?.[1] ?? 0);
    expect(kills, 'the run killed Offload several times').toBeGreaterThanOrEqual(2);
    expect(output).toMatch(/\| lost 0 \|/);
    expect(output).toMatch(/\| reordered 0 \|/);
  }, 150_000);
});
