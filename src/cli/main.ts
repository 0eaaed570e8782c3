#!/usr/bin/env node
import { Command, InvalidArgumentError } from 'commander';
import { readFileSync } from 'node:fs';
import { createClient, OffloadApiError, type MessageInput } from '../client/index.js';
import { loadConfigFile } from '../config/load.js';
import { OffloadError } from '../domain/errors.js';
import { serve } from './serve.js';

const program = new Command();
program
  .name('offload')
  .description('Durable asynchronous work delivered as HTTP calls')
  .version('0.1.0')
  .option('--url <url>', 'Offload API base URL for client commands', process.env.OFFLOAD_URL ?? 'http://127.0.0.1:8080')
  .option('--api-key <key>', 'API key (or OFFLOAD_API_KEY)', process.env.OFFLOAD_API_KEY);

const client = () => {
  const opts = program.opts<{ url: string; apiKey?: string }>();
  return createClient({ url: opts.url, ...(opts.apiKey ? { apiKey: opts.apiKey } : {}) });
};
const print = (value: unknown) => console.log(JSON.stringify(value, null, 2));
const int = (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a whole number');
  return n;
};

program
  .command('serve')
  .description('run Offload: the HTTP API and the dispatcher')
  .option('-c, --config <file>', 'configuration file (YAML or JSON)', process.env.OFFLOAD_CONFIG ?? 'offload.yaml')
  .option('-p, --port <port>', 'port (overrides server.port)', int)
  .option('--host <host>', 'interface to listen on (overrides server.host)')
  .option('--sqlite <path>', 'SQLite file (overrides storage)')
  .option('--postgres <url>', 'PostgreSQL URL (overrides storage)')
  .action(async (opts: { config: string; port?: number; host?: string; sqlite?: string; postgres?: string }) => {
    const config = loadConfigFile(opts.config, process.env, {
      ...(opts.port !== undefined ? { port: opts.port } : {}),
      ...(opts.host ? { host: opts.host } : {}),
      ...(opts.sqlite ? { sqlitePath: opts.sqlite } : {}),
      ...(opts.postgres ? { postgresUrl: opts.postgres } : {}),
    });
    await serve(config);
  });

const messageFrom = (opts: { data?: string; file?: string; id?: string; key?: string; type?: string; delay?: string }): MessageInput => {
  const text = opts.file ? readFileSync(opts.file === '-' ? 0 : opts.file, 'utf8') : opts.data ?? '{}';
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw new InvalidArgumentError(`data is not JSON: ${text.slice(0, 80)}`);
  }
  return { data, ...(opts.id ? { id: opts.id } : {}), ...(opts.key ? { key: opts.key } : {}), ...(opts.type ? { type: opts.type } : {}), ...(opts.delay ? { delay: opts.delay } : {}) };
};

for (const [name, kind] of [['send', 'queue'], ['publish', 'topic']] as const) {
  program
    .command(`${name} <${kind}>`)
    .description(kind === 'queue' ? 'send a message to a queue (fifo queues need --key)' : 'publish an event to a topic')
    .option('-d, --data <json>', 'payload as JSON')
    .option('-f, --file <path>', 'payload from a JSON file (- for stdin)')
    .option('--id <id>', 'message id (deduplicated)')
    .option('-k, --key <key>', 'key: aggregate id / partition key')
    .option('-t, --type <type>', 'event type')
    .option('--delay <duration>', 'deliver later, e.g. 30s')
    .action(async (channel: string, opts) => {
      const message = messageFrom(opts);
      print(kind === 'queue' ? await client().send(channel, message) : await client().publish(channel, message));
    });
}

program
  .command('status [id]')
  .description('status of a message (with attempts), or of every channel when no id is given')
  .option('--channel <name>', 'channel, where ids collide across channels')
  .action(async (id: string | undefined, opts: { channel?: string }) => {
    if (id) return print(await client().getMessage(id, opts.channel));
    const rows = await client().channels();
    console.table(rows.map((r) => ({ name: r.name, kind: r.kind, depth: r.depth, inFlight: r.inFlight, oldestAgeMs: r.oldestAgeMs, delivered: r.delivered, deadLettered: r.deadLettered, blocked: Number(r.parkedKeys) + Number(r.stalledLanes), paused: r.paused })));
  });

const deadletters = program.command('deadletters').description('list, redrive or purge dead letters of a queue');
deadletters.command('list <queue>').option('--limit <n>', 'page size', int, 100).option('--cursor <cursor>').action(async (queue: string, opts: { limit: number; cursor?: string }) => print(await client().deadLetters(queue, opts)));
deadletters.command('redrive <queue> [ids...]').description('redrive all, or the given ids').action(async (queue: string, ids: string[]) => print({ redriven: await client().redrive(queue, ids.length ? ids : undefined) }));
deadletters.command('purge <queue> [ids...]').description('delete all, or the given ids').action(async (queue: string, ids: string[]) => print({ purged: await client().purgeDeadLetters(queue, ids.length ? ids : undefined) }));

const subscriptions = program.command('subscriptions').description('inspect and unblock ordered topic subscriptions');
subscriptions.command('show <topic> <subscription>').action(async (topic: string, sub: string) => print(await client().subscription(topic, sub)));
subscriptions.command('retry <topic> <subscription>').option('-k, --key <key>', 'lane key (ordering: key)').description('retry the head now').action(async (topic: string, sub: string, opts: { key?: string }) => {
  await client().retrySubscription(topic, sub, opts.key);
  console.log(`retrying the head of ${topic}/${sub}${opts.key ? ` key ${opts.key}` : ''}`);
});
subscriptions.command('skip <topic> <subscription>').option('-k, --key <key>', 'lane key (ordering: key)').description('move the head aside (kept) and go on').action(async (topic: string, sub: string, opts: { key?: string }) => print(await client().skipSubscription(topic, sub, opts.key)));

const parked = program.command('parked').description('parked keys of fifo queues');
parked.command('list <queue>').action(async (queue: string) => print(await client().parked(queue)));
parked.command('retry <queue> <key>').action(async (queue: string, key: string) => {
  await client().retryParked(queue, key);
  console.log(`retrying key ${key} of ${queue}`);
});
parked.command('skip <queue> <key>').action(async (queue: string, key: string) => print(await client().skipParked(queue, key)));

for (const action of ['pause', 'resume'] as const) {
  program.command(`${action} <kind> <name>`).description(`${action} deliveries of a queue or topic (kind: queue|topic)`).action(async (kind: string, name: string) => {
    if (kind !== 'queue' && kind !== 'topic') throw new InvalidArgumentError('kind is queue or topic');
    await client()[action](kind === 'queue' ? 'queues' : 'topics', name);
    console.log(`${name} ${action}d`);
  });
}

program.parseAsync(process.argv).catch((error: unknown) => {
  if (error instanceof OffloadApiError) {
    console.error(`error: ${error.problem?.detail ?? error.message}`);
    for (const e of error.problem?.errors ?? []) console.error(`  - ${e.path}: ${e.message}`);
  } else if (error instanceof OffloadError) {
    console.error(`error: ${error.message}`);
  } else if (error instanceof Error && (error as { cause?: { code?: string } }).cause?.code === 'ECONNREFUSED') {
    console.error(`error: cannot reach Offload at ${program.opts<{ url: string }>().url} (is it running? set --url)`);
  } else {
    console.error(error);
  }
  process.exit(1);
});
