import { describe, expect, it } from 'vitest';
import { ConfigError } from '../domain/errors.js';
import { buildConfig } from './load.js';

const base = { endpoints: { sink: { url: 'http://127.0.0.1:9000/' } }, queues: { reports: { endpoint: 'sink' }, tenants: { endpoint: 'sink', kind: 'fifo' } }, topics: { ticks: {} } };
const build = (schedules: unknown) => buildConfig({ ...base, schedules }, { env: {} });

function errorsOf(schedules: unknown): Array<{ path: string; message: string }> {
  try {
    build(schedules);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).details?.errors ?? [];
  }
  throw new Error('expected the configuration to be refused');
}

describe('schedules in the configuration', () => {
  it('reads a schedule with its defaults: UTC, catchUp latest, data null', () => {
    const config = build({ nightly: { cron: ' 0 3 * * * ', queue: 'reports', message: { type: 'ReportDue' } } });
    expect(config.schedules).toEqual([{ name: 'nightly', cron: '0 3 * * *', timezone: 'UTC', channel: 'reports', message: { type: 'ReportDue', key: null, data: 'null' }, catchUp: 'latest' }]);
  });

  it('refuses at start-up a message the API would refuse: no key for a fifo queue, data nested past delivery.maxDepth', () => {
    expect(errorsOf({ a: { cron: '0 * * * *', queue: 'tenants', message: { type: 'T' } } })).toEqual([
      { path: 'schedules.a.message.key', message: 'a fifo queue needs a key on every message (the aggregate id): its messages are delivered in order per key' },
    ]);
    expect(build({ a: { cron: '0 * * * *', queue: 'tenants', message: { type: 'T', key: 'all' } } }).schedules[0]!.message.key).toBe('all');
    const nested = (levels: number): unknown => (levels === 0 ? 1 : [nested(levels - 1)]);
    expect(errorsOf({ a: { cron: '0 * * * *', queue: 'reports', message: { type: 'T', data: nested(70) } } })).toEqual([
      { path: 'schedules.a.message.data', message: 'nested deeper than delivery.maxDepth (64 levels)' },
    ]);
    expect(build({ a: { cron: '0 * * * *', queue: 'reports', message: { type: 'T', data: nested(60) } } }).schedules).toHaveLength(1);
  });

  it('refuses with the key path what is wrong', () => {
    expect(errorsOf({ a: { cron: '* * *', queue: 'reports', message: { type: 'T' } } })).toEqual([{ path: 'schedules.a.cron', message: expect.stringContaining('3 fields') }]);
    expect(errorsOf({ a: { cron: '0 * * * *', timezone: 'Europe/Lundun', queue: 'reports', message: { type: 'T' } } })).toEqual([{ path: 'schedules.a.timezone', message: expect.stringContaining('not a time zone') }]);
    expect(errorsOf({ a: { cron: '0 * * * *', message: { type: 'T' } } })).toEqual([{ path: 'schedules.a.queue', message: expect.stringContaining('exactly one of queue or topic') }]);
    expect(errorsOf({ a: { cron: '0 * * * *', queue: 'reports', topic: 'ticks', message: { type: 'T' } } })[0]!.path).toBe('schedules.a.queue');
    expect(errorsOf({ a: { cron: '0 * * * *', queue: 'nope', message: { type: 'T' } } })).toEqual([{ path: 'schedules.a.queue', message: "queue 'nope' is not defined under queues (defined: reports, tenants)" }]);
    expect(errorsOf({ a: { cron: '0 * * * *', topic: 'nope', message: { type: 'T' } } })[0]!.path).toBe('schedules.a.topic');
    expect(errorsOf({ a: { cron: '0 * * * *', queue: 'reports', message: { type: 'T' }, catchUp: 'some' } })[0]!.path).toBe('schedules.a.catchUp');
    expect(errorsOf({ a: { cron: '0 * * * *', queue: 'reports', message: { type: 'has space' } } })[0]!.path).toBe('schedules.a.message.type');
    expect(errorsOf({ 'a/b': { cron: '0 * * * *', queue: 'reports', message: { type: 'T' } } })[0]!.path).toBe('schedules.a/b');
  });
});
