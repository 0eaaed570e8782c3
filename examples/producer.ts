import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import type { LineLog } from './delivery-request.js';

/**
 * A small producer: what an API host does on its request path. It hands work to Offload over
 * the HTTP API and moves on; Offload answers once the work is stored durably. Every round it
 * sends audits, usage metrics, an email, an SMS, a tenant provisioning sequence and two domain
 * events. A few rounds carry something that cannot succeed, to show what Offload does then.
 */

export interface ProducerOptions {
  /** Offload's API, e.g. http://127.0.0.1:8080. */
  baseUrl: string;
  /** Default 30. */
  rounds?: number;
  /** Pause between rounds. Default 1000 ms. */
  intervalMs?: number;
  /** Distinguishes this run's ids from earlier runs on the same store. Default: derived from the time. */
  runId?: string;
  log?: LineLog;
  /** Stops between rounds. */
  signal?: AbortSignal;
}

export interface ProducerReport {
  rounds: number;
  /** Messages Offload accepted (202), and duplicates it recognised (200). */
  accepted: number;
  duplicates: number;
  failedCalls: number;
  /** Ids worth looking up afterwards. */
  examples: { emailId?: string; invalidSmsId?: string; parkedTenant?: string };
}

const EMAILS = ['ada@example.com', 'grace@example.com', 'alan@example.com', 'barbara@example.com'];
const ACTORS = ['ada', 'grace', 'alan'];
const ACTIONS = ['invoice.viewed', 'user.login', 'settings.changed', 'api-key.created'];
/** Every 4th round's SMS goes to an invalid number: the receiver answers 422 (permanent), Offload dead-letters it. */
const INVALID_SMS_EVERY = 4;
/** Round 3's tenant is in a region whose seed step is refused once: the tenant parks. */
const PARKED_TENANT_ROUND = 3;

interface Message {
  id?: string;
  key?: string;
  type: string;
  data: unknown;
  metadata?: { tenantId?: string; correlationId?: string };
}

type Sender = (kind: 'queues' | 'topics', channel: string, messages: Message[]) => Promise<void>;

export async function runProducer(options: ProducerOptions): Promise<ProducerReport> {
  const rounds = options.rounds ?? 30;
  const run = options.runId ?? Date.now().toString(36);
  const log = options.log ?? ((line: string) => console.log(line));
  const report: ProducerReport = { rounds: 0, accepted: 0, duplicates: 0, failedCalls: 0, examples: {} };
  const send = createSender(options.baseUrl, report, log);

  for (let round = 1; round <= rounds && !options.signal?.aborted; round++) {
    const notes = await sendRound(send, run, round, report);
    report.rounds = round;
    log(`round ${round}/${rounds}: 2 audits, 2 usages, 1 email, 1 sms, tenant ${tenantId(run, round)} (create-db → seed → notify), OrderPlaced + OrderPaid ${orderId(run, round)}${notes}`);
    if (round < rounds) await pause(options.intervalMs ?? 1_000, options.signal);
  }
  return report;
}

async function sendRound(send: Sender, run: string, round: number, report: ProducerReport): Promise<string> {
  const notes: string[] = [];
  const tenant = tenantId(run, round);
  const order = orderId(run, round);
  const correlationId = `${run}-r${round}`;
  const audits = [0, 1].map((i) => ({ id: `${run}-audit-${round}-${i}`, type: 'audit.recorded', data: { actor: ACTORS[(round + i) % ACTORS.length], action: ACTIONS[(round + i) % ACTIONS.length] }, metadata: { tenantId: tenant, correlationId } }));
  await send('queues', 'audits', audits);
  if (round === 2) {
    // Resending an accepted id is harmless: Offload answers `duplicate: true` and stores nothing.
    await send('queues', 'audits', [{ id: `${run}-audit-1-0`, type: 'audit.recorded', data: { actor: 'ada', action: 'retry.by.producer' } }]);
    notes.push(`resent audit ${run}-audit-1-0 (Offload: duplicate, stored once)`);
  }
  await send('queues', 'usages', [
    { id: `${run}-usage-${round}-requests`, type: 'usage.recorded', data: { tenant, metric: 'api.requests', value: 100 + round } },
    { id: `${run}-usage-${round}-storage`, type: 'usage.recorded', data: { tenant, metric: 'storage.mb', value: round } },
  ]);
  const emailId = `${run}-email-${round}`;
  await send('queues', 'emails', [{ id: emailId, type: 'email.requested', data: { to: EMAILS[round % EMAILS.length], subject: 'Your invoice', template: 'invoice' }, metadata: { correlationId } }]);
  report.examples.emailId ??= emailId;
  const invalid = round % INVALID_SMS_EVERY === 0;
  const smsId = `${run}-sms-${round}`;
  await send('queues', 'smses', [{ id: smsId, type: 'sms.requested', data: { to: invalid ? `+999 555 01${pad(round)}` : `+1 555 01${pad(round)}`, text: 'Your code is 123456' } }]);
  if (invalid) {
    report.examples.invalidSmsId ??= smsId;
    notes.push(`sms ${smsId} to an invalid +999 number (will be dead-lettered)`);
  }
  const region = round === PARKED_TENANT_ROUND ? 'eu-north-9' : 'eu-west-1';
  if (round === PARKED_TENANT_ROUND) {
    report.examples.parkedTenant = tenant;
    notes.push(`tenant ${tenant} in region eu-north-9 (its seed is refused: the tenant parks)`);
  }
  await send('queues', 'tenant-provisionings', ['create-db', 'seed', 'notify'].map((step) => ({ id: `${tenant}-${step}`, key: tenant, type: `tenant.${step}`, data: { tenantId: tenant, step, region }, metadata: { tenantId: tenant } })));
  await send('topics', 'domain_events', [
    { id: `${order}-placed`, key: order, type: 'OrderPlaced', data: { orderId: order, total: 40 + round, currency: 'EUR' }, metadata: { correlationId } },
    { id: `${order}-paid`, key: order, type: 'OrderPaid', data: { orderId: order, amount: 40 + round, currency: 'EUR' }, metadata: { correlationId } },
  ]);
  return notes.length > 0 ? `\n  · ${notes.join('\n  · ')}` : '';
}

/** Posts one batch (kept in order); never throws, so one failed call does not end the run. */
function createSender(baseUrl: string, report: ProducerReport, log: LineLog): Sender {
  return async (kind, channel, messages) => {
    const url = `${baseUrl}/v1/${kind}/${channel}/messages/batch`;
    try {
      const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ messages }) });
      const body = (await response.json()) as { items?: Array<{ duplicate?: boolean }>; detail?: string };
      if (!response.ok) {
        report.failedCalls++;
        log(`✗ ${channel}: HTTP ${response.status} ${body.detail ?? ''}`);
        return;
      }
      for (const item of body.items ?? []) {
        if (item.duplicate) report.duplicates++;
        else report.accepted++;
      }
    } catch (error) {
      report.failedCalls++;
      log(`✗ ${channel}: ${(error as Error).message} (is Offload running at ${baseUrl}?)`);
    }
  };
}

function tenantId(run: string, round: number): string {
  return `tenant-${run}-${pad(round)}`;
}

function orderId(run: string, round: number): string {
  return `order-${run}-${pad(round)}`;
}

function pad(n: number): string {
  return String(n).padStart(2, '0');
}

function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
  });
}

/** `node dist/examples/producer.js [--url http://127.0.0.1:8080] [--rounds 30]`: against an Offload already running. */
async function main(): Promise<void> {
  const { values } = parseArgs({ options: { url: { type: 'string', default: 'http://127.0.0.1:8080' }, rounds: { type: 'string', default: '30' } } });
  const abort = new AbortController();
  process.once('SIGINT', () => abort.abort());
  const report = await runProducer({ baseUrl: values.url, rounds: Number(values.rounds), signal: abort.signal });
  console.log(`sent ${report.rounds} rounds: ${report.accepted} accepted, ${report.duplicates} duplicates, ${report.failedCalls} failed calls`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
