import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadConfigFile } from '../../src/config/load.js';

const examplePath = fileURLToPath(new URL('../../examples/offload.yaml', import.meta.url));

describe('examples/offload.yaml', () => {
  // An empty environment: OFFLOAD_PORT and friends on the machine running the tests must not leak in.
  const config = loadConfigFile(examplePath, {});
  const target = (name: string) => {
    const found = config.targets.find((t) => t.name === name);
    if (!found) throw new Error(`no target ${name}`);
    return found;
  };

  it('uses the embedded SQLite store and listens on loopback', () => {
    expect(config.storage).toEqual({ sqlite: { path: './data/offload.db', durability: 'fsync' } });
    expect(config.server).toMatchObject({ port: 8080, host: '127.0.0.1' });
  });

  it('declares the four ancillary queues with short backoffs so retries show within a minute', () => {
    for (const [name, path] of [['audits', '/audits/deliver'], ['usages', '/usages/deliver'], ['emails', '/emails/deliver'], ['smses', '/smses/deliver']] as const) {
      expect(target(name)).toMatchObject({ kind: 'queue', ordering: 'none', url: `http://127.0.0.1:9000${path}`, timeoutMs: 5_000, maxAttempts: 5, minBackoffMs: 500, maxBackoffMs: 10_000 });
    }
  });

  it('declares tenant provisioning as a per-tenant FIFO that parks instead of dead-lettering', () => {
    expect(target('tenant-provisionings')).toMatchObject({ kind: 'fifo', ordering: 'key', onExhausted: 'block', url: 'http://127.0.0.1:9000/provisionings/deliver' });
    expect(config.queues.get('tenant-provisionings')).toBe('fifo');
  });

  it('subscribes a batched read-model projector in topic order and billing in key order', () => {
    expect(target('domain_events/read-models')).toMatchObject({ kind: 'subscription', ordering: 'topic', batchSize: 20, concurrency: 1, url: 'http://127.0.0.1:9000/events' });
    expect(target('domain_events/billing')).toMatchObject({ kind: 'subscription', ordering: 'key', batchSize: 1, url: 'http://127.0.0.1:9000/billing/events' });
    expect(config.topics.get('domain_events')).toEqual(['domain_events/read-models', 'domain_events/billing']);
  });
});
