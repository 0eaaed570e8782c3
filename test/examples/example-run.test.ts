import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { buildConfig } from '../../src/config/load.js';
import { createOffload, type Offload } from '../../src/offload.js';
import { runProducer } from '../../examples/producer.js';
import { createExampleReceiver, type ExampleReceiver, type ReceiverStats } from '../../examples/receiver.js';
import { tempDir } from '../support/temp.js';
import { until } from '../support/until.js';

const examplePath = fileURLToPath(new URL('../../examples/offload.yaml', import.meta.url));

/** The example configuration, pointed at a receiver on a free port and a throwaway store. */
function exampleConfig(receiverUrl: string, dbPath: string) {
  const raw = parse(readFileSync(examplePath, 'utf8')) as { server: { port: number }; storage: { sqlite: { path: string } }; endpoints: { ancillary: { url: string } } };
  raw.server.port = 0;
  raw.storage.sqlite.path = dbPath;
  raw.endpoints.ancillary.url = receiverUrl;
  return buildConfig(raw, { source: examplePath, env: {} });
}

const silent = () => undefined;

describe('npm start example, end to end on SQLite', () => {
  const dir = tempDir('offload-example-');
  let receiver: ExampleReceiver | undefined;
  let offload: Offload | undefined;

  afterEach(async () => {
    await offload?.stop();
    await receiver?.close();
  });
  afterAll(() => dir.cleanup());

  it('delivers every workload, dead-letters the invalid SMS and parks the tenant whose seed is refused', async () => {
    receiver = await createExampleReceiver({ port: 0, failureRate: 0, log: silent });
    offload = await createOffload(exampleConfig(receiver.url, join(dir.path, 'offload.db')), { logger: pino({ level: 'silent' }) });
    await offload.start();
    const stats = (): ReceiverStats => receiver!.stats();

    const report = await runProducer({ baseUrl: offload.url, rounds: 4, intervalMs: 10, runId: 'run', log: silent });
    expect(report).toMatchObject({ rounds: 4, accepted: 44, duplicates: 1, failedCalls: 0 });

    await until('every deliverable message', () => {
      const s = stats();
      return s.audits.stored === 8 && s.usages.forwarded === 8 && s.emails.sent === 4 && s.smses.sent === 3 && s.smses.rejected === 1
        && s.provisionings.tenantsReady === 3 && s.provisionings.refused === 1 && s.readModels.events === 8 && s.billing.events === 8;
    }, 20_000);

    const deadLetters = (await (await fetch(`${offload.url}/v1/queues/smses/deadletters`)).json()) as { items: Array<{ id: string; lastError: string }> };
    expect(deadLetters.items.map((d) => d.id)).toEqual(['run-sms-4']);
    const parked = (await (await fetch(`${offload.url}/v1/queues/tenant-provisionings/parked`)).json()) as { items: Array<{ key: string; pending: number }> };
    expect(parked.items).toMatchObject([{ key: 'tenant-run-03', pending: 2 }]);

    // The operator's retry un-parks the tenant: seed, then notify, in order.
    expect((await fetch(`${offload.url}/v1/queues/tenant-provisionings/parked/tenant-run-03/retry`, { method: 'POST' })).status).toBe(200);
    await until('the parked tenant to finish', () => stats().provisionings.tenantsReady === 4, 20_000);

    const s = stats();
    expect(s.readModels.lastSequence).toBe(8);
    expect([s.provisionings.overlaps, s.provisionings.outOfOrder, s.readModels.gaps, s.readModels.outOfOrder, s.readModels.overlaps, s.billing.outOfOrder, s.billing.overlaps]).toEqual([0, 0, 0, 0, 0, 0, 0]);
  });
});
