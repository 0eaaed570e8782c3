import { describe, expect, it, onTestFinished } from 'vitest';
import { join } from 'node:path';
import { createFaultReceiver, type Decider } from '../../src/testing/index.js';
import { get, post } from '../support/offload.js';
import { spawnOffload, writeConfig } from '../support/process.js';
import { tempDir } from '../support/temp.js';

/** An endpoint that accepts `perSecond` calls over any second and answers 429 above it, without saying how fast is fine. */
function enforcedRate(perSecond: number, now: () => number): Decider {
  const accepted: number[] = [];
  return () => {
    const t = now();
    while (accepted.length > 0 && accepted[0]! <= t - 1_000) accepted.shift();
    if (accepted.length >= perSecond) return { kind: 'status', status: 429 };
    accepted.push(t);
    return { kind: 'ok' };
  };
}

describe('adaptive endpoint limits', () => {
  it('converge on a rate the endpoint enforces but Offload is not told, and dead-letter nothing', { timeout: 90_000 }, async () => {
    let clock = () => Date.now();
    const receiver = await createFaultReceiver({ decide: (request) => enforced(request) });
    onTestFinished(() => receiver.close());
    clock = () => receiver.now();
    const enforced = enforcedRate(25, () => clock());
    const dir = tempDir();
    onTestFinished(() => dir.cleanup());
    const offload = await spawnOffload(
      writeConfig(dir.path, {
        storage: { sqlite: { path: join(dir.path, 'offload.db') } },
        endpoints: { sms: { url: receiver.url, adaptive: true, breaker: false } },
        delivery: { pollInterval: '200ms' },
        queues: { codes: { endpoint: 'sms', path: '/sms', concurrency: 16, minBackoff: '200ms', maxBackoff: '2s', maxAttempts: 10 } },
      }),
    );
    const total = 400;
    for (let i = 0; i < total; i += 100) {
      const res = await post(offload.url, '/v1/queues/codes/messages/batch', { messages: Array.from({ length: 100 }, (_, j) => ({ id: `c-${i + j}`, data: {} })) });
      expect(res.status).toBe(202);
    }
    await receiver.waitFor((r) => r.acceptCounts('/sms').size === total, { timeoutMs: 60_000 });

    // The last settlements land just after the receiver answered.
    let codes: { delivered: number; deadLettered: number; depth: number } | undefined;
    for (const deadline = Date.now() + 10_000; Date.now() < deadline; await new Promise((resolve) => setTimeout(resolve, 50))) {
      codes = (await get(offload.url, '/v1/channels')).body.items.find((c: { name: string }) => c.name === 'codes');
      if (codes?.depth === 0) break;
    }
    expect(codes).toMatchObject({ deadLettered: 0, delivered: total, depth: 0 });
    const { body: endpoints } = await get(offload.url, '/v1/endpoints');
    const sms = endpoints.items.find((e: { name: string }) => e.name === 'sms');
    expect(sms.cuts).toBeGreaterThanOrEqual(1);
    expect(sms.currentRate).toBeLessThanOrEqual(40);

    // Once converged (the second half of the run), throttled calls are the exception.
    const records = receiver.records();
    const half = records.slice(Math.floor(records.length / 2));
    const throttled = half.filter((r) => r.status === 429).length;
    expect(throttled / half.length).toBeLessThan(0.2);
    const all429 = records.filter((r) => r.status === 429).length;
    console.info(`adaptive: ${records.length} calls for ${total} messages, ${all429} answered 429 (${throttled} in the second half), rate now ${sms.currentRate?.toFixed(1)}/s after ${sms.cuts} cuts`);
  });
});
