import { describe, expect, it, onTestFinished } from 'vitest';
import { createFaultReceiver, type FaultReceiver, type RequestRecord } from '../../src/testing/index.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { get, post } from '../support/offload.js';
import { spawnOffload, writeConfig } from '../support/process.js';
import { join } from 'node:path';
import { tempDir } from '../support/temp.js';
import { until } from '../support/until.js';
import { dropSchema, postgresAvailable, TEST_PG_URL, testSchema } from '../support/postgres.js';

const pgAvailable = await postgresAvailable();

/** The most calls that arrived within any window of `windowMs`. */
function busiestWindow(records: readonly RequestRecord[], windowMs: number): number {
  const times = records.map((r) => r.startedAt).sort((a, b) => a - b);
  let worst = 0;
  let start = 0;
  for (let end = 0; end < times.length; end++) {
    while (times[end]! - times[start]! > windowMs) start++;
    worst = Math.max(worst, end - start + 1);
  }
  return worst;
}

async function receiver(): Promise<FaultReceiver> {
  const r = await createFaultReceiver({});
  onTestFinished(() => r.close());
  return r;
}

/** A queue, a fifo queue and an ordered subscription, all calling one rate-limited endpoint. */
function limitedConfig(url: string, rateLimit: { perSecond: number; burst: number }): Omit<ConfigInput, 'storage' | 'server'> {
  const fast = { minBackoff: '50ms', maxBackoff: '200ms', lockDuration: '5s' };
  return {
    endpoints: { partner: { url, rateLimit, breaker: false } },
    delivery: { pollInterval: '200ms' },
    queues: {
      mail: { endpoint: 'partner', path: '/mail', concurrency: 16, ...fast },
      accounts: { preset: 'aggregate-fifo', endpoint: 'partner', path: '/accounts', concurrency: 8, ...fast },
    },
    topics: { orders: { subscriptions: { ledger: { endpoint: 'partner', path: '/ledger', ordering: 'topic', ...fast } } } },
  };
}

async function sendAll(instances: ReadonlyArray<{ url: string }>, counts: { mail: number; accounts: number; orders: number }): Promise<void> {
  const at = (i: number) => instances[i % instances.length]!.url;
  for (let i = 0; i < counts.mail; i += 50) {
    const res = await post(at(i), '/v1/queues/mail/messages/batch', { messages: Array.from({ length: Math.min(50, counts.mail - i) }, (_, j) => ({ id: `m-${i + j}`, data: {} })) });
    expect(res.status).toBe(202);
  }
  for (let i = 0; i < counts.accounts; i += 50) {
    const res = await post(at(i + 1), '/v1/queues/accounts/messages/batch', { messages: Array.from({ length: Math.min(50, counts.accounts - i) }, (_, j) => ({ id: `a-${i + j}`, key: `k${(i + j) % 5}`, data: { n: i + j } })) });
    expect(res.status).toBe(202);
  }
  // Topic order is publish order: one instance publishes, in sequence.
  for (let i = 0; i < counts.orders; i += 50) {
    const res = await post(at(0), '/v1/topics/orders/messages/batch', { messages: Array.from({ length: Math.min(50, counts.orders - i) }, (_, j) => ({ id: `o-${i + j}`, data: { n: i + j } })) });
    expect(res.status).toBe(202);
  }
}

function checkDelivery(r: FaultReceiver, counts: { mail: number; accounts: number; orders: number }, rateLimit: { perSecond: number; burst: number }): void {
  const records = r.records();
  // The contract: over any 5-second window, at most N x 5 + M calls, across channels.
  expect(busiestWindow(records, 5_000)).toBeLessThanOrEqual(5 * rateLimit.perSecond + rateLimit.burst);
  // Over one second too, give or take the jitter between a permit and the call being read by the
  // receiver (in this busy test process), which can bunch a few calls together.
  expect(busiestWindow(records, 1_000)).toBeLessThanOrEqual(rateLimit.perSecond + rateLimit.burst + 5);
  // Ordered lanes kept their order under the limit.
  expect(r.acceptedIds('/ledger')).toEqual(Array.from({ length: counts.orders }, (_, i) => `o-${i}`));
  for (let k = 0; k < 5; k++) {
    const ids = r.acceptedIds('/accounts').filter((id) => Number(id.slice(2)) % 5 === k);
    expect(ids).toEqual([...ids].sort((a, b) => Number(a.slice(2)) - Number(b.slice(2))));
  }
  // Waiting for a permit never became a failed attempt: every call was answered 200 at once.
  expect(records.every((rec) => rec.events.every((e) => e.attempt === 1))).toBe(true);
  const total = counts.mail + counts.accounts + counts.orders;
  expect(records).toHaveLength(total);
  // And the limit was used. Loosely: on a machine shared with other work the database round
  // trips behind each permit slow everything down; the figure is printed for the record.
  const span = (records[records.length - 1]!.startedAt - records[0]!.startedAt) / 1000;
  expect(total / span).toBeGreaterThan(rateLimit.perSecond * 0.15);
  console.info(`rate limit ${rateLimit.perSecond}/s burst ${rateLimit.burst}: ${total} calls at ${(total / span).toFixed(1)}/s, busiest 5 s window ${busiestWindow(records, 5_000)}, busiest 1 s window ${busiestWindow(records, 1_000)}`);
}

// Offload runs in its own processes, as in production: the receiver's timestamps then measure
// what an endpoint sees, not the test process's event loop.
describe('endpoint rate limits', () => {
  it('keeps every 5-second window at or under N x 5 + burst across channels on SQLite; ordered lanes keep order; no attempt is counted for waiting', { timeout: 90_000 }, async () => {
    const r = await receiver();
    const dir = tempDir();
    onTestFinished(() => dir.cleanup());
    const rateLimit = { perSecond: 40, burst: 5 };
    const offload = await spawnOffload(writeConfig(dir.path, { ...limitedConfig(r.url, rateLimit), storage: { sqlite: { path: join(dir.path, 'offload.db') } } }));
    const counts = { mail: 120, accounts: 60, orders: 60 };
    await sendAll([offload], counts);
    await r.waitFor((rr) => rr.records().length >= 240 && rr.inFlight().length === 0, { timeoutMs: 30_000 });
    checkDelivery(r, counts, rateLimit);
    // The receiver has answered every call; Offload counts a call in flight until it has read the
    // answer and settled the delivery, which can take a moment longer.
    let endpoint: Record<string, unknown> = {};
    await until('the endpoint to show no call in flight', async () => {
      endpoint = (await get(offload.url, '/v1/endpoints')).body.items[0];
      return endpoint.inFlight === 0;
    });
    expect(endpoint).toMatchObject({ name: 'partner', rateLimit, currentRate: 40, inFlight: 0, channels: ['mail', 'accounts', 'orders/ledger'] });
  });

  it.skipIf(!pgAvailable)('shares one limit among instances on one PostgreSQL database', { timeout: 90_000 }, async () => {
    const r = await receiver();
    const dir = tempDir();
    onTestFinished(() => dir.cleanup());
    const schema = testSchema();
    onTestFinished(() => dropSchema(schema));
    const rateLimit = { perSecond: 40, burst: 5 };
    const path = writeConfig(dir.path, { ...limitedConfig(r.url, rateLimit), storage: { postgres: { url: TEST_PG_URL, schema, poolSize: 4 } } });
    const instances = await Promise.all([0, 1].map(() => spawnOffload(path)));
    const counts = { mail: 120, accounts: 60, orders: 60 };
    await sendAll(instances, counts);
    await r.waitFor((rr) => rr.records().length >= 240 && rr.inFlight().length === 0, { timeoutMs: 30_000 });
    checkDelivery(r, counts, rateLimit);
  });
});
