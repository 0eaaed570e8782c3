import { describe, expect, it, onTestFinished } from 'vitest';
import { createFaultReceiver, type FaultReceiver, type RequestRecord } from '../../src/testing/index.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { get, post } from '../support/offload.js';
import { spawnOffload, writeConfig, type OffloadProcess } from '../support/process.js';
import { tempDir } from '../support/temp.js';
import { dropSchema, postgresAvailable, TEST_PG_URL, testSchema } from '../support/postgres.js';

const pgAvailable = await postgresAvailable();
const MAX = 4;

/** The most calls the receiver had in flight at once, from the start and end of every call (an end first on a tie). */
function peakInFlight(records: readonly RequestRecord[]): number {
  const edges = records.flatMap((r) => [[r.startedAt, 1], [r.endedAt ?? Number.POSITIVE_INFINITY, -1]] as const).sort((x, y) => x[0] - y[0] || x[1] - y[1]);
  let now = 0;
  let peak = 0;
  for (const [, step] of edges) peak = Math.max(peak, (now += step));
  return peak;
}

/** A queue, a fifo queue and an ordered subscription, all calling one slow endpoint limited to MAX calls in flight. */
function config(url: string, schema: string): ConfigInput {
  const fast = { minBackoff: '50ms', maxBackoff: '200ms', lockDuration: '3s' };
  return {
    storage: { postgres: { url: TEST_PG_URL, schema, poolSize: 4 } },
    endpoints: { partner: { url, maxConcurrency: MAX, breaker: false } },
    delivery: { pollInterval: '200ms' },
    queues: {
      mail: { endpoint: 'partner', path: '/mail', concurrency: 16, ...fast },
      accounts: { preset: 'aggregate-fifo', endpoint: 'partner', path: '/accounts', concurrency: 8, ...fast },
    },
    topics: { orders: { subscriptions: { ledger: { endpoint: 'partner', path: '/ledger', ordering: 'topic', ...fast } } } },
  };
}

async function sendAll(instances: readonly OffloadProcess[], counts: { mail: number; accounts: number; orders: number }): Promise<void> {
  const at = (i: number) => instances[i % instances.length]!.url;
  for (let i = 0; i < counts.mail; i += 20) {
    const res = await post(at(i / 20), '/v1/queues/mail/messages/batch', { messages: Array.from({ length: Math.min(20, counts.mail - i) }, (_, j) => ({ id: `m-${i + j}`, data: {} })) });
    expect(res.status).toBe(202);
  }
  for (let i = 0; i < counts.accounts; i += 10) {
    const res = await post(at(i / 10 + 1), '/v1/queues/accounts/messages/batch', { messages: Array.from({ length: Math.min(10, counts.accounts - i) }, (_, j) => ({ id: `a-${i + j}`, key: `k${(i + j) % 5}`, data: {} })) });
    expect(res.status).toBe(202);
  }
  // Topic order is publish order: one instance publishes, in sequence.
  const res = await post(at(0), '/v1/topics/orders/messages/batch', { messages: Array.from({ length: counts.orders }, (_, i) => ({ id: `o-${i}`, data: {} })) });
  expect(res.status).toBe(202);
}

/** The endpoint as an instance reports it, once `done` holds (the last settlements land just after the receiver answered). */
async function endpointOnce(instance: OffloadProcess, done: (partner: { inFlight: number; inFlightTotal: number | null; instances: unknown[] }) => boolean) {
  let partner;
  for (const deadline = Date.now() + 10_000; Date.now() < deadline; await new Promise((resolve) => setTimeout(resolve, 50))) {
    partner = (await get(instance.url, '/v1/endpoints')).body.items[0];
    if (done(partner)) break;
  }
  return partner;
}

function checkOrder(r: FaultReceiver, orders: number): void {
  expect(r.acceptedIds('/ledger')).toEqual(Array.from({ length: orders }, (_, i) => `o-${i}`));
  for (let k = 0; k < 5; k++) {
    const ids = r.acceptedIds('/accounts').filter((id) => Number(id.slice(2)) % 5 === k);
    expect(ids).toEqual([...ids].sort((x, y) => Number(x.slice(2)) - Number(y.slice(2))));
  }
}

// Offload runs in its own processes, as in production, all on one PostgreSQL schema.
describe.skipIf(!pgAvailable)('endpoint maxConcurrency across instances', () => {
  it('three instances never have more than maxConcurrency calls in flight to a slow endpoint; everything is delivered, lanes in order, no attempt counted for waiting', { timeout: 120_000 }, async () => {
    const r = await createFaultReceiver({ latencyMs: { min: 100, max: 200 } });
    onTestFinished(() => r.close());
    const dir = tempDir();
    onTestFinished(() => dir.cleanup());
    const schema = testSchema();
    onTestFinished(() => dropSchema(schema));
    const path = writeConfig(dir.path, config(r.url, schema));
    const instances = await Promise.all([0, 1, 2].map(() => spawnOffload(path)));
    const counts = { mail: 60, accounts: 30, orders: 30 };
    const total = counts.mail + counts.accounts + counts.orders;
    // Checked each time the receiver reads a request or answers one.
    let peak = 0;
    const finished = r.waitFor((rr) => {
      peak = Math.max(peak, rr.inFlight().length);
      return rr.records().length >= total && rr.inFlight().length === 0;
    }, { timeoutMs: 60_000 });
    await sendAll(instances, counts);
    // While calls are under way, every instance reports what all of them hold, never over the limit.
    const { body } = await get(instances[1]!.url, '/v1/endpoints');
    const partner = body.items.find((e: { name: string }) => e.name === 'partner');
    expect(partner.maxConcurrency).toBe(MAX);
    expect(partner.inFlightTotal).toBeLessThanOrEqual(MAX);
    expect(partner.instances.reduce((n: number, i: { inFlight: number }) => n + i.inFlight, 0)).toBe(partner.inFlightTotal);
    await finished;
    // Each instance asked the store for slots, and learnt what all of them hold.
    for (const instance of instances) {
      const metrics = await (await fetch(`${instance.url}/metrics`)).text();
      const seen = /offload_endpoint_in_flight_all_instances\{endpoint="partner"\} (\d+)/.exec(metrics);
      expect(Number(seen?.[1] ?? Number.NaN)).toBeLessThanOrEqual(MAX);
    }

    const records = r.records();
    expect(peak).toBeLessThanOrEqual(MAX);
    expect(peakInFlight(records)).toBeLessThanOrEqual(MAX);
    expect(records).toHaveLength(total);
    expect(records.every((rec) => rec.status === 200 && rec.events.every((e) => e.attempt === 1))).toBe(true);
    checkOrder(r, counts.orders);
    // The limit was used, not just respected: the calls overlapped up to it.
    expect(peak).toBe(MAX);
    const span = (Math.max(...records.map((rec) => rec.endedAt ?? 0)) - records[0]!.startedAt) / 1000;
    // (The ordered subscription, one call at a time, takes at least 30 x 100 ms of that.)
    console.info(`maxConcurrency ${MAX} over 3 instances: ${total} calls of 100-200 ms in ${span.toFixed(1)} s (${(total / span).toFixed(1)}/s), peak in flight ${peak}`);

    // Every instance gave its slots back once idle.
    const idle = await endpointOnce(instances[0]!, (p) => p.inFlight === 0 && p.instances.length === 0);
    expect(idle).toMatchObject({ inFlight: 0, inFlightTotal: 0, instances: [] });
  });

  it('an instance killed while it holds slots keeps them counted until they expire (its lease time); then the others use the whole limit', { timeout: 120_000 }, async () => {
    const r = await createFaultReceiver({ latencyMs: 150 });
    onTestFinished(() => r.close());
    const dir = tempDir();
    onTestFinished(() => dir.cleanup());
    const schema = testSchema();
    onTestFinished(() => dropSchema(schema));
    const path = writeConfig(dir.path, config(r.url, schema));
    const [doomed, survivor] = await Promise.all([0, 1].map(() => spawnOffload(path)));
    const doomedId = /"instance":"([^"]+)"/.exec(doomed!.output())![1]!;
    const total = 240;
    let peak = 0;
    const finished = r.waitFor((rr) => {
      peak = Math.max(peak, rr.inFlight().length);
      return new Set(rr.acceptedIds('/mail')).size >= total && rr.inFlight().length === 0;
    }, { timeoutMs: 90_000 });
    const res = await post(survivor!.url, '/v1/queues/mail/messages/batch', { messages: Array.from({ length: total }, (_, i) => ({ id: `m-${i}`, data: {} })) });
    expect(res.status).toBe(202);
    // Kill the instance while it holds slots: its calls die with it, its holds stay in the store.
    let held = 0;
    for (const deadline = Date.now() + 10_000; held === 0 && Date.now() < deadline; ) {
      const { body } = await get(survivor!.url, '/v1/endpoints');
      held = body.items[0].instances.find((i: { instance: string }) => i.instance === doomedId)?.inFlight ?? 0;
    }
    expect(held).toBeGreaterThan(0);
    await doomed!.kill('SIGKILL');
    const killedAt = r.now();
    // What the store counts for it is what it last wrote, which may differ from what was read before.
    const { body: after } = await get(survivor!.url, '/v1/endpoints');
    held = after.items[0].instances.find((i: { instance: string }) => i.instance === doomedId)?.inFlight ?? 0;
    expect(held).toBeGreaterThan(0);
    await finished;

    const records = r.records();
    expect(peak).toBeLessThanOrEqual(MAX);
    expect(new Set(r.acceptedIds('/mail')).size).toBe(total);
    // Until the dead holds expire (3 s lock duration), the survivor has only the rest of the limit.
    const meanwhile = records.filter((rec) => rec.startedAt > killedAt + 300 && rec.startedAt < killedAt + 2_500);
    // (A dead instance that held every slot leaves the survivor none until they expire.)
    if (held < MAX) expect(meanwhile.length).toBeGreaterThan(0);
    expect(peakInFlight(meanwhile)).toBeLessThanOrEqual(MAX - held);
    // After that, the whole limit.
    expect(peakInFlight(records.filter((rec) => rec.startedAt > killedAt + 4_000))).toBe(MAX);
    expect(await endpointOnce(survivor!, (p) => p.instances.length === 0)).toMatchObject({ inFlightTotal: 0, instances: [] });
    console.info(`killed an instance holding ${held} of ${MAX} slots: the survivor kept to ${peakInFlight(meanwhile)} until they expired`);
  });
});
