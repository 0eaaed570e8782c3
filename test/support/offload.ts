import { join } from 'node:path';
import { onTestFinished } from 'vitest';
import { pino } from 'pino';
import { buildConfig, type OffloadConfig } from '../../src/config/load.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { createOffload, type Offload, type OffloadOptions } from '../../src/offload.js';
import { tempDir } from './temp.js';
import { createFaultReceiver, type FaultReceiver, type FaultReceiverOptions } from '../../src/testing/index.js';

export interface TestOffload extends Offload {
  cleanup(): Promise<void>;
}

/**
 * Starts a real Offload (SQLite file in a temp folder, API on a free loopback port). It stops
 * and its folder goes when the test ends, whatever the outcome.
 */
export async function startOffload(input: Omit<ConfigInput, 'storage' | 'server'> & { storage?: ConfigInput['storage']; server?: Omit<NonNullable<ConfigInput['server']>, 'port'> }, options: OffloadOptions = {}): Promise<TestOffload> {
  const dir = tempDir();
  const config: OffloadConfig = buildConfig({
    ...input,
    server: { ...input.server, port: 0 },
    storage: input.storage ?? { sqlite: { path: join(dir.path, 'offload.db') } },
  });
  const offload = await createOffload(config, { logger: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }), ...options });
  await offload.start();
  let stopped = false;
  const running = Object.assign(offload, {
    async cleanup() {
      if (stopped) return;
      stopped = true;
      await offload.stop();
      dir.cleanup();
    },
  });
  onTestFinished(() => running.cleanup());
  return running;
}

/** A fault receiver that closes when the test ends. */
export async function testReceiver(options?: FaultReceiverOptions): Promise<FaultReceiver> {
  const receiver = await createFaultReceiver(options);
  onTestFinished(() => receiver.close());
  return receiver;
}

/** POSTs JSON to the running API. */
export async function post(base: string, path: string, body: unknown): Promise<{ status: number; body: any }> {
  const init = body === undefined ? { method: 'POST' } : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
  const res = await fetch(`${base}${path}`, init);
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

export async function get(base: string, path: string): Promise<{ status: number; body: any }> {
  const res = await fetch(`${base}${path}`);
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}
