import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { pino, type Logger } from 'pino';
import { loadConfigFile, type OffloadConfig } from '../src/config/load.js';
import { createOffload, describeStore, type Offload } from '../src/offload.js';
import type { LineLog } from './delivery-request.js';
import { runProducer } from './producer.js';
import { createExampleReceiver, type ExampleReceiver } from './receiver.js';
import { printSummaryWhenSettled } from './summary.js';

/**
 * `npm start`: the three workloads on the embedded SQLite store, with no other server. Starts
 * the example receiver (the "ancillary API"), Offload with examples/offload.yaml, and a producer
 * that sends a few rounds of work; then keeps running so retries, dead letters and parked keys
 * can be inspected with curl. Ctrl-C stops everything gracefully.
 *
 *   npm start -- --rounds 10      fewer rounds (default 30)
 *   npm start -- --seed 7         other failures from the stub providers (default 1)
 *   PORT=8081 npm start           another API port
 */

const prefixed = (label: string): LineLog => (line) => console.log(`${label} │ ${line}`);

async function main(): Promise<void> {
  const { rounds, seed } = parseFlags(process.argv.slice(2));
  const root = packageRoot(dirname(fileURLToPath(import.meta.url)));
  const configPath = join(root, 'examples', 'offload.yaml');
  const config = loadConfigFile(configPath, process.env, process.env.PORT ? { port: Number(process.env.PORT) } : {});
  const logger = createLogger();

  const receiver = await createExampleReceiver({ port: receiverPort(config), failureRate: 0.3, seed, log: prefixed('receiver') });
  let offload: Offload | undefined;
  try {
    offload = await createOffload(config, { logger });
    await offload.start();
  } catch (error) {
    // A failed start (e.g. the API port is taken) may already be delivering: stop that too.
    await offload?.stop().catch(() => undefined);
    await receiver.close();
    throw error;
  }
  const running = offload;

  const abort = new AbortController();
  const stopped = onShutdownSignal(() => {
    abort.abort();
    return stopAll(running, receiver);
  });

  console.log(`\nOffload listening on ${running.url} — config ${relative(process.cwd(), configPath) || configPath} — store ${describeStore(config)}`);
  console.log(`example receiver (the ancillary API) on ${receiver.url}\n`);
  console.log(hints(running.url, receiver.url));

  const report = await runProducer({ baseUrl: running.url, rounds, log: prefixed('producer'), signal: abort.signal });
  if (!abort.signal.aborted) {
    prefixed('producer')(`done: ${report.accepted} messages accepted, ${report.duplicates} duplicate(s) recognised, ${report.failedCalls} failed call(s)`);
    await printSummaryWhenSettled({ baseUrl: running.url, timeoutMs: 60_000, log: prefixed('summary'), signal: abort.signal, receiver: () => receiver.stats() });
  }
  if (!abort.signal.aborted) console.log(followUps(running.url, report.examples));
  await stopped;
}

/** The example endpoint's port comes from the configuration, so the two cannot disagree. */
function receiverPort(config: OffloadConfig): number {
  const target = config.targets.find((t) => t.endpoint === 'ancillary');
  if (!target) throw new Error("examples/offload.yaml has no target on the 'ancillary' endpoint");
  const url = new URL(target.url);
  return Number(url.port || 80);
}

function parseFlags(args: string[]): { rounds: number; seed: number } {
  const { values } = parseArgs({ args, options: { rounds: { type: 'string', default: '30' }, seed: { type: 'string', default: '1' } } });
  return { rounds: wholeNumber('--rounds', values.rounds), seed: wholeNumber('--seed', values.seed) };
}

function wholeNumber(flag: string, text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 0) throw new Error(`${flag} takes a whole number, not '${text}'`);
  return value;
}

/** The folder holding package.json, whether this runs from dist/examples or from examples. */
function packageRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) throw new Error(`no package.json above ${from}`);
  }
}

/** Pretty logs for a person at a terminal; JSON lines otherwise, or when pino-pretty (a dev dependency) is absent. */
function createLogger(): Logger {
  const level = process.env.OFFLOAD_LOG_LEVEL ?? 'info';
  if (process.stdout.isTTY && canResolve('pino-pretty')) {
    return pino({ level, transport: { target: 'pino-pretty', options: { translateTime: 'HH:MM:ss', ignore: 'pid,hostname' } } });
  }
  return pino({ level });
}

function canResolve(name: string): boolean {
  try {
    createRequire(import.meta.url).resolve(name);
    return true;
  } catch {
    return false;
  }
}

/** Runs `stop` on the first SIGINT/SIGTERM; a second signal exits at once. Resolves once stopped. */
function onShutdownSignal(stop: () => Promise<void>): Promise<void> {
  return new Promise((resolve) => {
    let stopping = false;
    const handle = (signal: NodeJS.Signals) => {
      if (stopping) {
        console.log(`${signal} again: exiting without waiting`);
        process.exit(1);
      }
      stopping = true;
      console.log(`\n${signal}: stopping (no new deliveries; calls in flight finish)…`);
      stop().then(resolve, (error: unknown) => {
        console.error('error while stopping:', error);
        process.exitCode = 1;
        resolve();
      });
    };
    process.on('SIGINT', handle);
    process.on('SIGTERM', handle);
  });
}

/** Offload first, so its in-flight calls can still reach the receiver. */
async function stopAll(offload: Offload, receiver: ExampleReceiver): Promise<void> {
  await offload.stop();
  await receiver.close();
  console.log('stopped: Offload and the example receiver are closed; undelivered work stays in the store for next time');
}

function hints(api: string, receiverUrl: string): string {
  return commandBlock('Try, in another terminal, while it runs:', [
    [`curl -s ${api}/v1/channels`, 'every queue and subscription: depth, delivered, dead letters, parked'],
    [`curl -s ${api}/v1/queues/smses/deadletters`, 'SMS to +999 numbers: the reason and every attempt'],
    [`curl -s -X POST ${api}/v1/queues/smses/deadletters/redrive`, 'send them again (they fail again: still invalid)'],
    [`curl -s ${api}/v1/queues/tenant-provisionings/parked`, 'the tenant whose seed step was refused'],
    [`curl -s ${api}/v1/messages/<id>`, 'one message: status, attempts, result (ids are in the logs)'],
    [`curl -sN ${api}/v1/events`, 'live stream of delivery events'],
    [`curl -s ${receiverUrl}/_stats`, 'what the receiver saw, and its ordering checks'],
  ]);
}

function followUps(api: string, examples: { emailId?: string; invalidSmsId?: string; parkedTenant?: string }): string {
  const commands: Array<[string, string]> = [];
  if (examples.emailId) commands.push([`curl -s ${api}/v1/messages/${examples.emailId}`, 'an email: its attempts and the provider\'s answers']);
  if (examples.invalidSmsId) commands.push([`curl -s ${api}/v1/messages/${examples.invalidSmsId}`, 'deadlettered: 422 invalid phone number']);
  if (examples.parkedTenant) commands.push([`curl -s -X POST ${api}/v1/queues/tenant-provisionings/parked/${examples.parkedTenant}/retry`, 'un-park: seed, then notify, in order']);
  const title = 'The producer is done; Offload keeps running (Ctrl-C stops it).';
  return commands.length === 0 ? `\n${title}\n` : `\n${commandBlock(`${title} With ids from this run:`, commands)}`;
}

/** Commands with their comments lined up, ready to copy. */
function commandBlock(title: string, commands: ReadonlyArray<readonly [string, string]>): string {
  const width = Math.max(...commands.map(([command]) => command.length));
  return [title, ...commands.map(([command, comment]) => `  ${command.padEnd(width)}   # ${comment}`), ''].join('\n');
}

main().catch((error: unknown) => {
  console.error(explain(error));
  process.exitCode = 1;
});

function explain(error: unknown): string {
  const { code, port } = error as { code?: string; port?: number };
  if (code === 'EADDRINUSE') {
    return `port ${port} is already in use: stop what holds it, or run the API elsewhere with PORT=8081 npm start (the example receiver's port is the 'ancillary' endpoint in examples/offload.yaml)`;
  }
  return error instanceof Error ? error.message : String(error);
}
