import { z } from 'zod';
import { createReceiver, ok, permanent, retryAfter, withSchema, type Inbox, type Receiver, type RetryAfter, type ReceivedEvent } from '../src/receiver/index.js';
import type { LineLog } from './delivery-request.js';
import type { ProviderOutcome, StubProvider } from './stub-provider.js';

/**
 * The ancillary work of the example API: audits, usage metrics, email and SMS, written with
 * `offload/receiver`. Order does not matter here, so Offload delivers these in parallel. Each
 * route has an inbox, because delivery is at-least-once: a call can be repeated after a crash,
 * and the inbox answers a repeat without doing the work again. (This one keeps ids in memory; a
 * real API uses `postgresInbox` or `sqliteInbox` so the id commits with the work.)
 */

export interface AncillaryStats {
  audits: { stored: number; duplicates: number };
  usages: { forwarded: number; duplicates: number; byMetric: Record<string, number> };
  emails: { sent: number; duplicates: number; providerFailures: number };
  smses: { sent: number; duplicates: number; providerFailures: number; rejected: number };
}

export interface AncillaryApi {
  receivers: Record<string, Receiver>;
  stats(): AncillaryStats;
}

export interface AncillaryApiOptions {
  provider: StubProvider;
  log: LineLog;
  /** Signing secrets of the `ancillary` endpoint; none means unsigned requests are accepted (loopback demo). */
  secrets?: readonly string[];
}

/** SMS to numbers with this prefix are refused by the provider: a permanent failure. */
export const INVALID_PHONE_PREFIX = '+999';

type Kind = keyof AncillaryStats;

export function createAncillaryApi(options: AncillaryApiOptions): AncillaryApi {
  const { provider, log } = options;
  const stats: AncillaryStats = {
    audits: { stored: 0, duplicates: 0 },
    usages: { forwarded: 0, duplicates: 0, byMetric: {} },
    emails: { sent: 0, duplicates: 0, providerFailures: 0 },
    smses: { sent: 0, duplicates: 0, providerFailures: 0, rejected: 0 },
  };

  const audit = withSchema(z.object({ actor: z.string().optional(), action: z.string().optional() }).loose(), (event) => {
    stats.audits.stored++;
    log(`✓ audit stored: ${event.data.actor ?? 'someone'} ${event.data.action ?? event.type}${attemptNote(event)}`);
    return ok({ stored: true });
  });

  const usage = withSchema(z.object({ tenant: z.string().optional(), metric: z.string().default('unknown'), value: z.coerce.number().default(1) }).loose(), (event) => {
    const { metric, value } = event.data;
    stats.usages.forwarded++;
    stats.usages.byMetric[metric] = (stats.usages.byMetric[metric] ?? 0) + value;
    log(`✓ usage ${event.data.tenant ?? '?'} ${metric} +${value} forwarded to the meter${attemptNote(event)}`);
    return ok({ forwarded: true });
  });

  const recipient = z.object({ to: z.string().min(1) }).loose();

  const email = withSchema(recipient, (event) => {
    const outcome = provider.send();
    if (!outcome.ok) return providerFailure('email', outcome, () => stats.emails.providerFailures++);
    stats.emails.sent++;
    log(`✓ email to ${event.data.to}${attemptNote(event)}`);
    return ok({ sent: true });
  });

  const sms = withSchema(recipient, (event) => {
    const { to } = event.data;
    if (to.startsWith(INVALID_PHONE_PREFIX)) {
      stats.smses.rejected++;
      log(`✗ sms to ${to}: 422 invalid phone number (permanent: Offload dead-letters it, no retry)`);
      return permanent(`invalid phone number ${to}`);
    }
    const outcome = provider.send();
    if (!outcome.ok) return providerFailure('sms', outcome, () => stats.smses.providerFailures++);
    stats.smses.sent++;
    log(`✓ sms to ${to}${attemptNote(event)}`);
    return ok({ sent: true });
  });

  const providerFailure = (what: string, outcome: Exclude<ProviderOutcome, { ok: true }>, count: () => void): RetryAfter => {
    count();
    if (outcome.status === 503) {
      log(`✗ ${what} provider 503, retry after ${outcome.retryAfterSeconds}s`);
      return retryAfter(outcome.retryAfterSeconds, `${what} provider is busy`);
    }
    log(`✗ ${what} provider 500, Offload retries with backoff`);
    // Anything thrown that is not an outcome is a 500, retried with backoff.
    throw new Error(`${what} provider failed`);
  };

  const receiver = (kind: Kind, handler: Parameters<typeof createReceiver>[0]['handlers'][string]) =>
    createReceiver({
      secrets: options.secrets ?? [],
      allowUnsigned: (options.secrets ?? []).length === 0,
      handlers: { '*': handler },
      inbox: memoryInbox(() => {
        stats[kind].duplicates++;
      }, (key) => log(`= ${kind}: ${key.split(' ')[1]} already handled, duplicate delivery ignored`)),
      onError: () => {},
    });

  return {
    receivers: {
      '/audits/deliver': receiver('audits', audit),
      '/usages/deliver': receiver('usages', usage),
      '/emails/deliver': receiver('emails', email),
      '/smses/deliver': receiver('smses', sms),
    },
    stats: () => structuredClone(stats),
  };
}

/** ` (attempt 3)` after a retry, nothing on a first attempt: keeps the happy path short. */
function attemptNote(event: ReceivedEvent): string {
  return event.deliveryattempt !== undefined && event.deliveryattempt > 1 ? ` (attempt ${event.deliveryattempt})` : '';
}

/**
 * An inbox that remembers ids in memory: enough for a demo whose effects are counters in the
 * same process. Handlers here are synchronous, so a key is marked before anything else runs.
 */
function memoryInbox(onDuplicate: () => void, log: (key: string) => void): Inbox<undefined> {
  const done = new Set<string>();
  const running = new Map<string, Promise<unknown>>();
  return {
    async run(key, work) {
      // A repeat that arrives while the first still runs waits for it: the two never both run.
      for (let first = running.get(key); first !== undefined; first = running.get(key)) await first.catch(() => undefined);
      if (done.has(key)) {
        onDuplicate();
        log(key);
        return { duplicate: true };
      }
      const mine = work(undefined);
      running.set(key, mine);
      try {
        const value = await mine;
        done.add(key);
        return { duplicate: false, value };
      } finally {
        running.delete(key);
      }
    },
    purge: async () => 0,
  };
}
