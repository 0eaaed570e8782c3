import { attemptNote, field, ok, rejected, unavailable, type CloudEvent, type DeliveryRequest, type Handler, type LineLog, type Reply } from './delivery-request.js';
import type { ProviderOutcome, StubProvider } from './stub-provider.js';

/**
 * The ancillary work of the example API: audits, usage metrics, email and SMS. Order does not
 * matter here, so Offload delivers these in parallel. Every handler deduplicates on the
 * `Idempotency-Key`, because delivery is at-least-once: a call can be repeated after a crash.
 */

export interface AncillaryStats {
  audits: { stored: number; duplicates: number };
  usages: { forwarded: number; duplicates: number; byMetric: Record<string, number> };
  emails: { sent: number; duplicates: number; providerFailures: number };
  smses: { sent: number; duplicates: number; providerFailures: number; rejected: number };
}

export interface AncillaryApi {
  routes: Record<string, Handler>;
  stats(): AncillaryStats;
}

/** SMS to numbers with this prefix are refused by the provider: a permanent failure. */
export const INVALID_PHONE_PREFIX = '+999';

export function createAncillaryApi(options: { provider: StubProvider; log: LineLog }): AncillaryApi {
  const { provider, log } = options;
  const stats: AncillaryStats = {
    audits: { stored: 0, duplicates: 0 },
    usages: { forwarded: 0, duplicates: 0, byMetric: {} },
    emails: { sent: 0, duplicates: 0, providerFailures: 0 },
    smses: { sent: 0, duplicates: 0, providerFailures: 0, rejected: 0 },
  };
  const seen = { audits: new Set<string>(), usages: new Set<string>(), emails: new Set<string>(), smses: new Set<string>() };

  /** Runs `apply` once per idempotency key; a repeated call is answered 200 without doing it again. */
  const once = (kind: keyof typeof seen, request: DeliveryRequest, apply: (event: CloudEvent) => Reply): Reply => {
    if (seen[kind].has(request.idempotencyKey)) {
      stats[kind].duplicates++;
      log(`= ${kind}: ${request.idempotencyKey} already handled, duplicate delivery ignored`);
      return ok({ duplicate: true });
    }
    const reply = apply(request.events[0]!);
    if (reply.status < 300) seen[kind].add(request.idempotencyKey);
    return reply;
  };

  const audit = (event: CloudEvent): Reply => {
    stats.audits.stored++;
    log(`✓ audit stored: ${field(event, 'actor') ?? 'someone'} ${field(event, 'action') ?? event.type}${attemptNote(event)}`);
    return ok({ stored: true });
  };

  const usage = (event: CloudEvent): Reply => {
    const metric = field(event, 'metric') ?? 'unknown';
    const value = Number(field(event, 'value') ?? 1);
    stats.usages.forwarded++;
    stats.usages.byMetric[metric] = (stats.usages.byMetric[metric] ?? 0) + value;
    log(`✓ usage ${field(event, 'tenant') ?? '?'} ${metric} +${value} forwarded to the meter${attemptNote(event)}`);
    return ok({ forwarded: true });
  };

  const email = (event: CloudEvent): Reply => {
    const to = field(event, 'to');
    if (!to) return rejected(400, 'data.to (the recipient address) is required');
    const outcome = provider.send();
    if (!outcome.ok) return providerFailure('email', outcome, () => stats.emails.providerFailures++);
    stats.emails.sent++;
    log(`✓ email to ${to}${attemptNote(event)}`);
    return ok({ sent: true });
  };

  const sms = (event: CloudEvent): Reply => {
    const to = field(event, 'to');
    if (!to) return rejected(400, 'data.to (the phone number) is required');
    if (to.startsWith(INVALID_PHONE_PREFIX)) {
      stats.smses.rejected++;
      log(`✗ sms to ${to}: 400 invalid phone number (permanent: Offload dead-letters it, no retry)`);
      return rejected(400, `invalid phone number ${to}`);
    }
    const outcome = provider.send();
    if (!outcome.ok) return providerFailure('sms', outcome, () => stats.smses.providerFailures++);
    stats.smses.sent++;
    log(`✓ sms to ${to}${attemptNote(event)}`);
    return ok({ sent: true });
  };

  const providerFailure = (what: string, outcome: Exclude<ProviderOutcome, { ok: true }>, count: () => void): Reply => {
    count();
    if (outcome.status === 503) {
      log(`✗ ${what} provider 503, retry after ${outcome.retryAfterSeconds}s`);
      return unavailable(503, `${what} provider is busy`, outcome.retryAfterSeconds);
    }
    log(`✗ ${what} provider 500, Offload retries with backoff`);
    return unavailable(500, `${what} provider failed`);
  };

  return {
    routes: {
      '/audits/deliver': (request) => once('audits', request, audit),
      '/usages/deliver': (request) => once('usages', request, usage),
      '/emails/deliver': (request) => once('emails', request, email),
      '/smses/deliver': (request) => once('smses', request, sms),
    },
    stats: () => structuredClone(stats),
  };
}
