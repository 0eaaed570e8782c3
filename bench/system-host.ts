/**
 * One system under test, in its own process: loads an adapter and runs the
 * orchestrator's requests (see lib/host-protocol.ts) one at a time. Its own
 * `maxRSS` is the system's memory figure unless the adapter reports another process.
 * Exits when the orchestrator goes away, after a best-effort teardown.
 */
import type { BenchSystem } from './systems/bench-system.js';
import { systemLoaders } from './systems/index.js';
import { nowMs, withTimeout } from './lib/clock.js';
import type { HostOps, HostRequest, HostResponse, HostUsage } from './lib/host-protocol.js';
import { planSize } from './lib/messages.js';
import { openLoop, produceBatches, produceSingly } from './lib/producers.js';

let system: BenchSystem | undefined;

function log(line: string): void {
  process.send?.({ log: line });
}

function requireSystem(): BenchSystem {
  if (!system) throw new Error('setup has not run');
  return system;
}

async function setup(args: HostOps['setup']['args']): Promise<HostOps['setup']['result']> {
  const load = systemLoaders[args.system];
  if (!load) throw new Error(`unknown system ${args.system}`);
  system = (await load()).default();
  await system.setup(args.channel, { ...args.env, log });
  return system.describe();
}

async function produce(args: HostOps['produce']['args']): Promise<HostOps['produce']['result']> {
  const target = requireSystem();
  const elapsedMs =
    args.mode === 'single'
      ? await produceSingly(target, args.plan, args.producers)
      : await produceBatches(target, args.plan, args.batchSize);
  return { count: planSize(args.plan), elapsedMs };
}

async function usage(): Promise<HostUsage> {
  const own = process.resourceUsage();
  const reported = system?.peakRssKb ? await system.peakRssKb() : undefined;
  return {
    maxRssKb: reported ?? own.maxRSS,
    cpuUserMs: own.userCPUTime / 1000,
    cpuSystemMs: own.systemCPUTime / 1000,
  };
}

async function teardown(): Promise<Record<string, never>> {
  const current = system;
  system = undefined;
  if (current) await current.teardown();
  return {};
}

async function dispatch(request: HostRequest): Promise<unknown> {
  switch (request.op) {
    case 'setup':
      return setup(request.args as HostOps['setup']['args']);
    case 'produce':
      return produce(request.args as HostOps['produce']['args']);
    case 'openLoop':
      return openLoop(requireSystem(), request.args as HostOps['openLoop']['args']);
    case 'start': {
      // The throughput clock starts before the call: starting workers is part of draining.
      const startedAt = nowMs();
      await requireSystem().start();
      return { startedAt };
    }
    case 'stop':
      return requireSystem().stop().then(() => ({}));
    case 'teardown':
      return teardown();
    case 'usage':
      return usage();
  }
}

// Requests are strictly sequential: the next waits for the previous to settle.
let queue: Promise<void> = Promise.resolve();

process.on('message', (request: HostRequest) => {
  queue = queue.then(async () => {
    let response: HostResponse;
    try {
      response = { id: request.id, ok: true, result: await dispatch(request) };
    } catch (error) {
      response = { id: request.id, ok: false, error: error instanceof Error ? (error.stack ?? error.message) : String(error) };
    }
    process.send?.(response);
  });
});

process.on('disconnect', () => {
  void withTimeout(teardown(), 10_000, 'teardown')
    .catch(() => undefined)
    .finally(() => process.exit(0));
});
