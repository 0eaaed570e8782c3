import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { post, startOffload, testReceiver, get } from '../support/offload.js';
import { isOneLineError, runCli } from '../support/cli.js';
import { testDir } from '../support/temp.js';
import { until } from '../support/until.js';

/** An Offload whose endpoint refuses everything with a 400: dead letters and a parked key at once. */
async function refusingOffload() {
  const receiver = await testReceiver({ otherwise: { kind: 'status', status: 400, body: 'invalid phone number' } });
  const offload = await startOffload({
    endpoints: { api: { url: receiver.url } },
    queues: {
      smses: { preset: 'ancillary', endpoint: 'api', path: '/smses' },
      tenants: { preset: 'aggregate-fifo', endpoint: 'api', path: '/tenants', onExhausted: 'block' },
    },
    topics: { events: { subscriptions: { projector: { preset: 'domain-events', endpoint: 'api', path: '/events', ordering: 'topic', filter: { types: ['Order*', 'Refund'] } } } } },
  });
  expect((await post(offload.url, '/v1/queues/smses/messages', { id: 'sms-1', data: { to: '+999' } })).status).toBe(202);
  expect((await post(offload.url, '/v1/queues/tenants/messages', { id: 'seed-7', key: 'tenant-7', data: {} })).status).toBe(202);
  await until('a dead letter and a parked key', async () => {
    const dead = await get(offload.url, '/v1/queues/smses/deadletters');
    const parked = await get(offload.url, '/v1/queues/tenants/parked');
    return dead.body.items.length === 1 && parked.body.items.length === 1;
  }, 20_000);
  return offload;
}

describe('offload CLI against a running Offload', () => {
  it('status is an aligned table with state, lag, rate and breaker; --json gives the API answer', async () => {
    const offload = await refusingOffload();
    const env = { OFFLOAD_URL: offload.url };
    const table = await runCli(['status', '--interval', '0'], { env });
    expect(table.code, table.stderr).toBe(0);
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^CHANNEL\s+KIND\s+STATE\s+DEPTH\s+IN FLIGHT\s+OLDEST\s+LAG\s+RATE\/S\s+DELIVERED\s+DEAD\s+BREAKER$/);
    expect(table.stdout).not.toContain('(index)');
    expect(table.stdout).not.toContain('\u001b['); // not a terminal: no colour
    const columnOf = (header: string) => lines[0]!.indexOf(header);
    const row = (name: string) => lines.find((l) => l.startsWith(`${name} `))!;
    expect(row('tenants').slice(columnOf('STATE')).startsWith('1 parked')).toBe(true);
    // Right-aligned numbers end under their header.
    const deadEnd = columnOf('DEAD') + 'DEAD'.length;
    expect(row('smses').slice(0, deadEnd).trimEnd().endsWith('1')).toBe(true);
    expect(row('events/projector')).toContain('subscription');
    expect(row('smses').trimEnd().endsWith('closed')).toBe(true);

    const json = await runCli(['status', '--json', '--interval', '0'], { env });
    const rows = JSON.parse(json.stdout) as Array<{ name: string; deadLettered: number }>;
    expect(rows.find((r) => r.name === 'smses')?.deadLettered).toBe(1);
  });

  it('deadletters list is one line per message; deadletters show and status <id> give the whole history', async () => {
    const offload = await refusingOffload();
    const env = { OFFLOAD_URL: offload.url };
    const list = await runCli(['deadletters', 'list', 'smses'], { env });
    expect(list.code, list.stderr).toBe(0);
    const [header, line, ...rest] = list.stdout.trimEnd().split('\n');
    expect(header).toMatch(/^ID\s+AGE\s+ATTEMPTS\s+LAST\s+REASON$/);
    expect(rest).toEqual([]);
    expect(line).toMatch(/^sms-1\s+\d+(ms|s)\s+1\s+400\s+permanent/);

    const json = JSON.parse((await runCli(['deadletters', 'list', 'smses', '--json'], { env })).stdout) as { items: Array<{ id: string }>; next: string | null };
    expect(json.items.map((i) => i.id)).toEqual(['sms-1']);

    for (const args of [['deadletters', 'show', 'sms-1'], ['status', 'sms-1']]) {
      const shown = await runCli(args, { env });
      expect(shown.code, shown.stderr).toBe(0);
      expect(shown.stdout).toMatch(/status:\s+deadlettered/);
      expect(shown.stdout).toMatch(/#\s+STARTED\s+TOOK\s+STATUS\s+ERROR \/ RESPONSE/);
      expect(shown.stdout).toContain('invalid phone number');
      expect(shown.stdout).toContain('"to": "+999"');
    }
    const shownJson = JSON.parse((await runCli(['deadletters', 'show', 'sms-1', '--json'], { env })).stdout) as { id: string; deliveries: unknown[] };
    expect(shownJson.id).toBe('sms-1');
    expect(shownJson.deliveries).toHaveLength(1);

    const missing = await runCli(['deadletters', 'show', 'nope'], { env });
    expect(missing.code).toBe(1);
    expect(isOneLineError(missing.stderr), missing.stderr).toBe(true);

    // A redrive starts the count again; the history keeps both calls, and the view says so.
    expect((await runCli(['deadletters', 'redrive', 'smses', 'sms-1'], { env })).code).toBe(0);
    await until('the redriven message dead-lettered again', async () => (await get(offload.url, '/v1/messages/sms-1')).body.deliveries[0].history.length === 2, 20_000);
    expect((await runCli(['status', 'sms-1'], { env })).stdout).toMatch(/deadlettered, 1 attempt\(s\) counted, 2 call\(s\) recorded/);
  });

  it('parked list, subscriptions show, send and redrive speak in lines; --json on every read command', async () => {
    const offload = await refusingOffload();
    const env = { OFFLOAD_URL: offload.url };
    const parked = await runCli(['parked', 'list', 'tenants'], { env });
    expect(parked.stdout).toMatch(/^KEY\s+STATE\s+SINCE\s+WAITING\s+HEAD\s+REASON\ntenant-7\s+parked\s+/);
    expect(JSON.parse((await runCli(['parked', 'list', 'tenants', '--json'], { env })).stdout).items[0].key).toBe('tenant-7');
    const sub = await runCli(['subscriptions', 'show', 'events', 'projector', '--json'], { env });
    expect(JSON.parse(sub.stdout)).toMatchObject({ name: 'events/projector', filter: { types: ['Order*', 'Refund'] } });
    expect((await runCli(['subscriptions', 'show', 'events', 'projector'], { env })).stdout).toMatch(/breaker:\s+closed\n[^]*filter:\s+types Order\*, Refund\n/);
    const sent = await runCli(['send', 'smses', '--id', 'sms-2', '--data', '{"to":"+1"}'], { env });
    expect(sent.stdout.trim()).toBe('sent sms-2 to smses (queued)');
    const redriven = await runCli(['deadletters', 'redrive', 'smses', 'sms-1'], { env });
    expect(redriven.stdout.trim()).toBe('redriven 1 message(s) of smses');
    // An id that is not a dead letter (a typo) is said, and the exit code tells a script.
    const typo = await runCli(['deadletters', 'redrive', 'smses', 'sms-typo'], { env });
    expect(typo.stdout.trim()).toBe('redriven 0 message(s) of smses');
    expect(typo.stderr.trim()).toBe('1 of the 1 id(s) given were not dead letters of smses');
    expect(typo.code).toBe(1);
  });

  it('send keeps the data exactly as written; data the API refuses, both --data and --file, and a server that is not Offload are one line, exit 1', async () => {
    const receiver = await testReceiver({ otherwise: { kind: 'hang' } });
    const offload = await startOffload({ endpoints: { api: { url: receiver.url } }, queues: { jobs: { endpoint: 'api' } } });
    await post(offload.url, '/v1/queues/jobs/pause', undefined);
    const env = { OFFLOAD_URL: offload.url };
    const text = '{"price":1.10,"n":9007199254740993, "s":"\\u00e9"}';
    const sent = await runCli(['send', 'jobs', '--id', 'exact-1', '--data', text], { env });
    expect(sent.stdout.trim()).toBe('sent exact-1 to jobs (queued)');
    const stored = await fetch(`${offload.url}/v1/messages/exact-1`).then((r) => r.text());
    expect(stored).toContain(`"data":${text}`);
    const file = join(testDir(), 'data.json');
    writeFileSync(file, '{"from":"file"}');
    // A plain web server answering 200 "ok" where Offload was expected.
    const notOffload = await testReceiver({ otherwise: { kind: 'ok', status: 200, body: 'ok' } });
    for (const [args, url, says] of [
      [['send', 'jobs', '--data', '{"a":1e999}'], offload.url, /too large for JSON to carry/],
      [['send', 'jobs', '--data', '{}', '--file', file], offload.url, /give the data with --data or with --file, not both/],
      [['send', 'jobs', '--data', '{}'], notOffload.url, /the answer is not JSON \(is http:\/\/127\.0\.0\.1:\d+ an Offload server\?\)/],
    ] as const) {
      const result = await runCli([...args], { env: { OFFLOAD_URL: url } });
      expect(result.code, result.stderr).toBe(1);
      expect(isOneLineError(result.stderr), result.stderr).toBe(true);
      expect(result.stderr).toMatch(says);
    }
  });

  it('unreachable Offload: one line naming the URL, exit 1', async () => {
    const result = await runCli(['status', '--interval', '0'], { env: { OFFLOAD_URL: 'http://127.0.0.1:9' } });
    expect(result.code).toBe(1);
    expect(isOneLineError(result.stderr), result.stderr).toBe(true);
    expect(result.stderr).toContain('cannot reach Offload at http://127.0.0.1:9');
  });
});

describe('offload init and check', () => {
  it('init writes a commented starter for the three workloads that check accepts; init refuses to overwrite', async () => {
    const dir = testDir();
    const init = await runCli(['init'], { cwd: dir });
    expect(init.code, init.stderr).toBe(0);
    const text = readFileSync(join(dir, 'offload.yaml'), 'utf8');
    expect(text).toContain('preset: ancillary');
    expect(text).toContain('preset: aggregate-fifo');
    expect(text).toContain('preset: domain-events');
    expect(text.split('\n').filter((l) => l.trimStart().startsWith('#')).length).toBeGreaterThan(10);
    const check = await runCli(['check', '--config', 'offload.yaml', '--json'], { cwd: dir });
    expect(check.code, check.stderr).toBe(0);
    expect(JSON.parse(check.stdout)).toMatchObject({ valid: true, queues: ['emails', 'tenant-provisionings'], topics: ['domain_events'] });
    const again = await runCli(['init'], { cwd: dir });
    expect(again.code).toBe(1);
    expect(isOneLineError(again.stderr), again.stderr).toBe(true);
    // A .json file gets JSON, which check reads as the same configuration.
    expect((await runCli(['init', 'offload.json'], { cwd: dir })).code).toBe(0);
    expect(JSON.parse(readFileSync(join(dir, 'offload.json'), 'utf8'))).toMatchObject({ queues: { emails: { preset: 'ancillary' } } });
    const checkJson = await runCli(['check', '--config', 'offload.json', '--json'], { cwd: dir });
    expect(JSON.parse(checkJson.stdout)).toMatchObject({ valid: true, queues: ['emails', 'tenant-provisionings'], topics: ['domain_events'] });
  });

  it('check on an invalid file: exit 1 with each error, nothing started', async () => {
    const dir = testDir();
    const path = join(dir, 'bad.yaml');
    await import('node:fs').then((fs) => fs.writeFileSync(path, 'queues:\n  a: { endpoint: nowhere }\nserver: { port: 0 }\n'));
    const check = await runCli(['check', '--config', path]);
    expect(check.code).toBe(1);
    expect(check.stdout).toBe('');
    expect(check.stderr).toContain(`error: invalid configuration in ${path}:`);
    expect(check.stderr).toContain("queues.a.endpoint: endpoint 'nowhere' is not defined");
    expect(check.stderr).not.toMatch(/\n\s+at /);
  });

  it('complete settles a delivery its endpoint answered 202; a second time is one line naming the conflict, exit 1', async () => {
    const receiver = await testReceiver({ otherwise: { kind: 'status', status: 202 } });
    const offload = await startOffload({
      endpoints: { api: { url: receiver.url } },
      queues: { exports: { preset: 'ancillary', endpoint: 'api', path: '/exports', asyncTimeout: '1h' } },
    });
    expect((await post(offload.url, '/v1/queues/exports/messages', { id: 'export-1', data: {} })).status).toBe(202);
    await until('the deferred call', async () => (await get(offload.url, '/v1/messages/export-1')).body.deliveries[0].status === 'delivering' && receiver.records().length === 1, 20_000);
    const token = receiver.records()[0]!.headers['offload-completion-token'] as string;
    const env = { OFFLOAD_URL: offload.url };
    const done = await runCli(['complete', token], { env });
    expect(done.code, done.stderr).toBe(0);
    expect(done.stdout.trim()).toBe('delivered export-1 (exports)');
    expect((await get(offload.url, '/v1/messages/export-1')).body.status).toBe('delivered');
    const again = await runCli(['complete', token, '--outcome', 'retry'], { env });
    expect(again.code).toBe(1);
    expect(isOneLineError(again.stderr)).toBe(true);
    expect(again.stderr).toContain('settled already');
  });

  it('seek and complete refusals are one line each, exit 1, with or without --json; a seek with --json prints its answer', async () => {
    const offload = await startOffload({
      endpoints: { api: { url: 'http://127.0.0.1:9' } },
      topics: { events: { subscriptions: { model: { endpoint: 'api', path: '/events' } } } },
    });
    const env = { OFFLOAD_URL: offload.url };
    const refusals: Array<[string[], string | RegExp]> = [
      [['subscriptions', 'seek', 'events', 'model', '--sequence', '1e308'], 'error: invalid seek: sequence must be a whole number from 1 to 9007199254740991'],
      [['subscriptions', 'seek', 'events', 'model', '--time', 'yesterday'], 'error: invalid seek: time must be an ISO 8601 date-time with a time zone'],
      [['subscriptions', 'seek', 'events', 'model', '--sequence', '5', '--json'], 'sequence 5 has not been published yet'],
      [['subscriptions', 'seek', 'events', 'nope', '--sequence', '1', '--json'], "subscription 'nope' of topic 'events' is not configured"],
      [['subscriptions', 'seek', 'events', 'model', '--sequence', '0'], /--sequence .* expected a whole number, 1 or more/],
      [['complete', '1.1.AAAAAAAAAAAAAAAAAAAAAA', '--outcome', 'permanent'], "error: invalid completion: a 'permanent' outcome needs a reason"],
      [['complete', '1.1.AAAAAAAAAAAAAAAAAAAAAA', '--outcome', 'retry', '--retry-after', '999999', '--json'], 'retryAfter must be whole seconds from 0 to 86400'],
      [['complete', '1.01.AAAAAAAAAAAAAAAAAAAAAA'], 'no delivery attempt has this completion token'],
    ];
    for (const [args, expected] of refusals) {
      const result = await runCli(args, { env });
      expect(result.code, args.join(' ')).toBe(1);
      expect(isOneLineError(result.stderr), result.stderr).toBe(true);
      if (typeof expected === 'string') expect(result.stderr, args.join(' ')).toContain(expected);
      else expect(result.stderr, args.join(' ')).toMatch(expected);
      expect(result.stdout).toBe('');
    }
    const json = await runCli(['subscriptions', 'seek', 'events', 'model', '--sequence', '1', '--json'], { env });
    expect(json.code, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual({ subscription: 'events/model', sequence: 1, replayed: 0, skipped: 0, fenced: 0 });
  });
});
