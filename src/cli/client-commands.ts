import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { InvalidArgumentError, type Command } from 'commander';
import { rawJson, type CompletionOutcome, type Json, type MessageInput, type OffloadClient, type RawJson, type SendResult } from '../client/index.js';
import { parseDuration } from '../domain/duration.js';
import { createStyle, terminalWidth } from './format.js';
import { renderChannels, renderDeadLetters, renderLanes, renderMessage, renderSubscription, type ChannelRow } from './views.js';

/** Adds an "Examples" section to a command's --help. */
export function examples(command: Command, ...lines: string[]): Command {
  return command.addHelpText('after', `\nExample${lines.length > 1 ? 's' : ''}:\n${lines.map((l) => `  $ ${l}`).join('\n')}\n`);
}

export const wholeNumber = (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a whole number');
  return n;
};

const positiveNumber = (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a whole number, 1 or more');
  return n;
};

const durationArg = (value: string) => {
  const ms = value.trim() === '0' ? 0 : parseDuration(value);
  if (ms === undefined) throw new InvalidArgumentError('write it like 0, 500ms, 1s or 2s');
  return ms;
};

interface JsonFlag {
  json?: boolean;
}

const json = (command: Command) => command.option('--json', 'print the API answer as JSON (for scripts)');

/** Client commands: everything that talks to a running Offload over HTTP. */
export function registerClientCommands(program: Command, client: () => OffloadClient): void {
  const style = () => createStyle();
  const show = (flags: JsonFlag, value: unknown, human: () => string) => console.log(flags.json ? JSON.stringify(value, null, 2) : human());

  for (const [name, kind] of [['send', 'queue'], ['publish', 'topic']] as const) {
    const command = json(program.command(`${name} <${kind}>`))
      .description(kind === 'queue' ? 'send a message to a queue (fifo queues need --key)' : 'publish an event to a topic (every subscription receives it)')
      .option('-d, --data <json>', 'payload as JSON')
      .option('-f, --file <path>', 'payload from a JSON file (- for stdin)')
      .option('--id <id>', 'message id (a repeated id within the dedup window is not stored twice)')
      .option('-k, --key <key>', 'key: aggregate id / partition key')
      .option('-t, --type <type>', 'event type')
      .option('--delay <duration>', 'deliver later, e.g. 30s')
      .action(async (channel: string, opts: MessageFlags & JsonFlag) => {
        const message = messageFrom(opts);
        const result: SendResult = kind === 'queue' ? await client().send(channel, message) : await client().publish(channel, message);
        show(opts, result, () => `${result.duplicate ? 'already stored' : name === 'send' ? 'sent' : 'published'} ${result.id} to ${channel} (${result.status})`);
      });
    if (kind === 'queue') examples(command, `offload send emails --data '{"to":"ada@example.com"}'`, `offload send tenant-provisionings --key tenant-42 --file step.json`);
    else examples(command, `offload publish domain_events --key order-7 --type OrderPlaced --data '{"orderId":"order-7"}'`);
  }

  examples(
    json(program.command('status [id]'))
      .description('one message with every attempt, or a table of every channel (depth, lag, rate, dead letters, breaker)')
      .option('--channel <name>', 'channel, where ids collide across channels')
      .option('--interval <duration>', 'how long to watch the counters to measure RATE/S (0: do not wait)', durationArg, 1000)
      .action(async (id: string | undefined, opts: { channel?: string; interval: number } & JsonFlag) => {
        if (id) {
          const message = await client().getMessage(id, opts.channel);
          return show(opts, message, () => renderMessage(message, style(), Date.now(), terminalWidth()));
        }
        const rows = await channelsWithRates(client(), opts.interval);
        show(opts, rows, () => renderChannels(rows, style()));
      }),
    'offload status',
    'offload status --json --interval 0',
    'offload status 0193e0c4-5b9a-7c3e-9f21-8d4b6a1e2f30',
  );

  const deadletters = examples(program.command('deadletters').description('list, show, redrive or purge the dead letters of a queue'), 'offload deadletters list smses');
  examples(
    json(deadletters.command('list <queue>'))
      .description('one line per dead letter: id, age, attempts, last status, reason')
      .option('--limit <n>', 'page size', wholeNumber, 100)
      .option('--cursor <cursor>', 'next page, as printed after a full page')
      .action(async (queue: string, opts: { limit: number; cursor?: string } & JsonFlag) => {
        const page = await client().deadLetters(queue, { limit: opts.limit, ...(opts.cursor ? { cursor: opts.cursor } : {}) });
        show(opts, page, () => {
          const table = renderDeadLetters(page.items, style(), Date.now(), terminalWidth());
          return page.next ? `${table}\nmore: offload deadletters list ${queue} --cursor ${page.next}` : table;
        });
      }),
    'offload deadletters list smses',
    'offload deadletters list smses --json',
  );
  examples(
    json(deadletters.command('show <id>'))
      .description('a dead letter with its reason, its whole attempt history and its data')
      .option('--channel <name>', 'channel, where ids collide across channels')
      .action(async (id: string, opts: { channel?: string } & JsonFlag) => {
        const message = await client().getMessage(id, opts.channel);
        show(opts, message, () => renderMessage(message, style(), Date.now(), terminalWidth()));
      }),
    'offload deadletters show 0193e0c4-5b9a-7c3e-9f21-8d4b6a1e2f30',
  );
  examples(
    deadletters
      .command('redrive <queue> [ids...]')
      .description('deliver again with a fresh budget of attempts: all dead letters, or the given ids')
      .action(async (queue: string, ids: string[]) => {
        const n = await client().redrive(queue, ids.length ? ids : undefined);
        console.log(`redriven ${n} message(s) of ${queue}`);
        notAllFound(ids, n, queue);
      }),
    'offload deadletters redrive smses',
    'offload deadletters redrive smses 0193e0c4-5b9a-7c3e-9f21-8d4b6a1e2f30',
  );
  examples(
    deadletters
      .command('purge <queue> [ids...]')
      .description('delete all dead letters, or the given ids')
      .action(async (queue: string, ids: string[]) => {
        const n = await client().purgeDeadLetters(queue, ids.length ? ids : undefined);
        console.log(`purged ${n} message(s) of ${queue}`);
        notAllFound(ids, n, queue);
      }),
    'offload deadletters purge smses 0193e0c4-5b9a-7c3e-9f21-8d4b6a1e2f30',
  );

  const subscriptions = examples(program.command('subscriptions').description('inspect and unblock ordered topic subscriptions'), 'offload subscriptions show domain_events read-models');
  examples(
    json(subscriptions.command('show <topic> <subscription>'))
      .description('lag, counters and stalled lanes of a subscription')
      .action(async (topic: string, sub: string, opts: JsonFlag) => {
        const view = await client().subscription(topic, sub);
        show(opts, view, () => renderSubscription(view, style(), Date.now(), terminalWidth()));
      }),
    'offload subscriptions show domain_events read-models',
  );
  examples(
    subscriptions
      .command('retry <topic> <subscription>')
      .description('retry the head of a stalled subscription (or lane) now, with fresh attempts')
      .option('-k, --key <key>', 'lane key (ordering: key)')
      .action(async (topic: string, sub: string, opts: { key?: string }) => {
        await client().retrySubscription(topic, sub, opts.key);
        console.log(`retrying the head of ${topic}/${sub}${opts.key ? ` key ${opts.key}` : ''}`);
      }),
    'offload subscriptions retry domain_events billing --key order-7',
  );
  examples(
    json(subscriptions.command('skip <topic> <subscription>'))
      .description('move the head aside (kept, listed as skipped) and go on')
      .option('-k, --key <key>', 'lane key (ordering: key)')
      .action(async (topic: string, sub: string, opts: { key?: string } & JsonFlag) => {
        const result = await client().skipSubscription(topic, sub, opts.key);
        show(opts, result, () => `skipped ${String((result.skipped as Json | undefined)?.id ?? '')} of ${topic}/${sub}`);
      }),
    'offload subscriptions skip domain_events read-models',
  );
  examples(
    json(subscriptions.command('seek <topic> <subscription>'))
      .description('move a subscription back (replay delivered events) or forward (skip the undelivered ones before the point, kept as skipped)')
      .option('--sequence <n>', 'the first event to deliver next, by sequence', positiveNumber)
      .option('--time <iso>', 'the first event published at or after this ISO 8601 time, e.g. 2026-01-31T09:00:00Z')
      .action(async (topic: string, sub: string, opts: { sequence?: number; time?: string } & JsonFlag) => {
        if ((opts.sequence === undefined) === (opts.time === undefined)) throw new InvalidArgumentError('give exactly one of --sequence <n> or --time <iso>');
        const result = await client().seekSubscription(topic, sub, opts.sequence !== undefined ? { sequence: opts.sequence } : { time: opts.time! });
        show(opts, result, () =>
          `${topic}/${sub} now reads from sequence ${result.sequence}: ${result.replayed} event(s) to deliver again, ${result.skipped} skipped, ${result.fenced} call(s) in flight fenced`);
      }),
    'offload subscriptions seek domain_events read-models --sequence 1',
    'offload subscriptions seek domain_events billing --time 2026-01-31T09:00:00Z --json',
  );

  examples(
    json(program.command('complete <token>'))
      .description('report the outcome of a delivery its endpoint answered 202 (asyncTimeout targets; the token is its Offload-Completion-Token)')
      .option('--outcome <outcome>', 'delivered, retry or permanent', 'delivered')
      .option('--reason <text>', 'why it failed (required with permanent)')
      .option('--retry-after <seconds>', 'retry no sooner than this (with retry)', wholeNumber)
      .option('--applied-through <id>', 'an ordered batch: the last event applied')
      .action(async (token: string, opts: { outcome: string; reason?: string; retryAfter?: number; appliedThrough?: string } & JsonFlag) => {
        if (!['delivered', 'retry', 'permanent'].includes(opts.outcome)) throw new InvalidArgumentError(`--outcome is delivered, retry or permanent, not '${opts.outcome}'`);
        const outcome = {
          outcome: opts.outcome,
          ...(opts.reason === undefined ? {} : { reason: opts.reason }),
          ...(opts.retryAfter === undefined ? {} : { retryAfter: opts.retryAfter }),
          ...(opts.appliedThrough === undefined ? {} : { appliedThrough: opts.appliedThrough }),
        } as CompletionOutcome;
        const result = await client().complete(token, outcome);
        show(opts, result, () => result.outcomes.map((o) => `${o.outcome} ${o.ids.join(', ')} (${result.target}${result.lane ? ` key '${result.lane}'` : ''})`).join('\n'));
      }),
    'offload complete 42.3.hZ0v3x9cQm2Rk1LwJp8aTg',
    "offload complete 42.3.hZ0v3x9cQm2Rk1LwJp8aTg --outcome retry --reason 'export service busy' --retry-after 60",
  );

  const parked = examples(program.command('parked').description('parked keys of fifo queues (onExhausted: block)'), 'offload parked list tenant-provisionings');
  examples(
    json(parked.command('list <queue>'))
      .description('one line per parked key: since when, how many wait, the head message and the reason')
      .action(async (queue: string, opts: JsonFlag) => {
        const page = await client().parked(queue);
        show(opts, page, () => renderLanes(page.items, style(), Date.now(), terminalWidth()));
      }),
    'offload parked list tenant-provisionings',
  );
  examples(
    parked
      .command('retry <queue> <key>')
      .description('retry the head of a parked key now, with fresh attempts')
      .action(async (queue: string, key: string) => {
        await client().retryParked(queue, key);
        console.log(`retrying key ${key} of ${queue}`);
      }),
    'offload parked retry tenant-provisionings tenant-42',
  );
  examples(
    json(parked.command('skip <queue> <key>'))
      .description('move the head of a parked key aside (kept) and deliver the rest of the key')
      .action(async (queue: string, key: string, opts: JsonFlag) => {
        const result = await client().skipParked(queue, key);
        show(opts, result, () => `skipped ${String((result.skipped as Json | undefined)?.id ?? '')} of ${queue} key ${key}`);
      }),
    'offload parked skip tenant-provisionings tenant-42',
  );

  const schedules = examples(program.command('schedules').description('recurring schedules: list, pause, resume (shared by every instance)'), 'offload schedules list');
  const scheduleLine = (s: Json) =>
    `${String(s.name).padEnd(20)} ${String(s.cron).padEnd(16)} ${String(s.timezone).padEnd(16)} -> ${s.queue ? `queue ${String(s.queue)}` : `topic ${String(s.topic)}`}  ${s.paused ? 'paused' : `next ${String(s.nextRunAt ?? '-')}`}  last ${String(s.lastRunAt ?? 'never')}`;
  examples(
    json(schedules.command('list'))
      .description('each schedule with its cron, time zone, channel, next and last run')
      .action(async (opts: JsonFlag) => {
        const items = await client().schedules();
        show(opts, items, () => (items.length === 0 ? 'no schedules configured' : items.map(scheduleLine).join('\n')));
      }),
    'offload schedules list',
  );
  for (const action of ['pause', 'resume'] as const) {
    examples(
      json(schedules.command(`${action} <name>`))
        .description(action === 'pause' ? 'stop sending the schedule\'s messages, on every instance' : 'send again from the next tick (ticks that passed while paused are not sent)')
        .action(async (name: string, opts: JsonFlag) => {
          const view = await client()[action === 'pause' ? 'pauseSchedule' : 'resumeSchedule'](name);
          show(opts, view, () => `${name} ${action}d${view.nextRunAt ? `; next run ${String(view.nextRunAt)}` : ''}`);
        }),
      `offload schedules ${action} nightly-report`,
    );
  }

  for (const action of ['pause', 'resume'] as const) {
    examples(
      program
        .command(`${action} <kind> <name>`)
        .description(`${action} deliveries of a queue or topic (kind: queue|topic); sends are ${action === 'pause' ? 'still accepted' : 'delivered again'}`)
        .action(async (kind: string, name: string) => {
          if (kind !== 'queue' && kind !== 'topic') throw new InvalidArgumentError(`kind is queue or topic, not '${kind}'`);
          await client()[action](kind === 'queue' ? 'queues' : 'topics', name);
          console.log(`${name} ${action}d`);
        }),
      `offload ${action} queue emails`,
    );
  }
}

interface MessageFlags {
  data?: string;
  file?: string;
  id?: string;
  key?: string;
  type?: string;
  delay?: string;
}

/** The message of `send`/`publish`; its data is sent exactly as written (`1.10` stays `1.10`). */
function messageFrom(opts: MessageFlags): MessageInput {
  if (opts.file !== undefined && opts.data !== undefined) throw new InvalidArgumentError('give the data with --data or with --file, not both');
  const text = opts.file ? readFileSync(opts.file === '-' ? 0 : opts.file, 'utf8') : (opts.data ?? '{}');
  let data: RawJson;
  try {
    data = rawJson(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  } catch (error) {
    const where = opts.file ? `the file ${opts.file}` : '--data';
    throw new InvalidArgumentError(`${where} is not JSON (${(error as Error).message}); quote keys and strings, e.g. --data '{"to":"ada@example.com"}'`);
  }
  return { data, ...(opts.id ? { id: opts.id } : {}), ...(opts.key ? { key: opts.key } : {}), ...(opts.type ? { type: opts.type } : {}), ...(opts.delay ? { delay: opts.delay } : {}) };
}

/** Two readings `intervalMs` apart: the rate is what was settled (delivered or dead-lettered) in between. */
async function channelsWithRates(client: OffloadClient, intervalMs: number): Promise<ChannelRow[]> {
  const first = await client.channels();
  if (intervalMs <= 0) return first.map((row) => ({ ...row, ratePerSecond: null }));
  const started = Date.now();
  await sleep(intervalMs);
  const second = await client.channels();
  const seconds = (Date.now() - started) / 1000;
  const settled = (row: Json) => Number(row.delivered ?? 0) + Number(row.deadLettered ?? 0);
  const before = new Map(first.map((row) => [row.name, settled(row)]));
  return second.map((row) => {
    const previous = before.get(row.name);
    return { ...row, ratePerSecond: previous === undefined ? null : Math.max(0, settled(row) - previous) / seconds };
  });
}

/** Ids given that named no dead letter of the queue: said on stderr, and the exit code is 1 (a script learns of a typo). */
function notAllFound(ids: readonly string[], done: number, queue: string): void {
  const asked = new Set(ids).size;
  if (asked === 0 || done >= asked) return;
  console.error(`${asked - done} of the ${asked} id(s) given were not dead letters of ${queue}`);
  process.exitCode = 1;
}
