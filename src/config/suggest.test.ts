import { describe, expect, it } from 'vitest';
import { configSchema } from './schema.js';
import { closestKey, keysAt, schemaKeys } from './suggest.js';

describe('configuration key suggestions', () => {
  it('finds the keys of nested objects, records and unions of the configuration schema', () => {
    const keys = schemaKeys(configSchema);
    for (const key of ['server', 'endpoints', 'concurrency', 'ordering', 'stallAfterAttempts', 'perSecond', 'consecutiveFailures', 'cron', 'otlp']) expect(keys).toContain(key);
  });

  it('finds the keys of the object at a path, through records, defaults and unions', () => {
    expect(keysAt(configSchema, ['queues', 'jobs'])).toContain('concurrency');
    expect(keysAt(configSchema, ['queues', 'jobs'])).not.toContain('batchSize');
    expect(keysAt(configSchema, ['topics', 't', 'subscriptions', 's'])).toContain('batchSize');
    expect(keysAt(configSchema, ['storage'])).toEqual(new Set(['sqlite', 'postgres']));
    expect(keysAt(configSchema, ['nowhere', 'at', 'all'])).toBeNull();
  });

  it('suggests a key one or two edits away (a swap of neighbours is one), and nothing for a short or distant one', () => {
    const known = ['timeout', 'concurrency', 'ordering', 'path', 'url'];
    expect(closestKey('timout', known)).toBe('timeout');
    expect(closestKey('concurency', known)).toBe('concurrency');
    expect(closestKey('odrering', known)).toBe('ordering');
    expect(closestKey('Timeout', known)).toBe('timeout');
    expect(closestKey('uri', known)).toBeNull();
    expect(closestKey('colour', known)).toBeNull();
    expect(closestKey('timeout', known)).toBeNull();
  });
});
