import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { buildConfig } from '../../src/config/load.js';

describe('README configuration example', () => {
  it('is a valid configuration as written', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const section = readme.slice(readme.indexOf('## Configuration'));
    const yaml = /```yaml\n([\s\S]*?)```/.exec(section)![1]!;
    const config = buildConfig(parse(yaml), { env: { ANCILLARY_SECRET: 'whsec_c2VjcmV0', OFFLOAD_PRODUCER_KEY: 'k', DATABASE_URL: 'postgres://x@127.0.0.1/db' } });
    expect(config.targets.map((t) => t.name)).toEqual(['audits', 'offers', 'tenant-provisionings', '_notify.0', 'domain_events/read-models', 'domain_events/billing']);
    expect(config.targets.find((t) => t.name === 'domain_events/read-models')).toMatchObject({ batchSize: 100, maxBatchWaitMs: 50, startFrom: 'beginning', stallAfterAttempts: 10 });
    expect(config.targets.find((t) => t.name === 'offers')).toMatchObject({ kind: 'queue', ttlMs: 300_000 });
    expect(config.breakers.get('ancillary')).toMatchObject({ consecutiveFailures: 20, coolDownMs: 15_000 });
  });
});
