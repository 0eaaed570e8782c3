import { acceptedBefore, attemptNote, createInFlightTracker, field, ok, rejected, unavailable, work, type CloudEvent, type Handler, type LineLog, type Reply } from './delivery-request.js';

/**
 * Per-tenant provisioning, the per-aggregate FIFO workload: each step changes the tenant, so
 * the steps of one tenant must run one at a time and in order (a database cannot be seeded
 * before it exists), while different tenants proceed in parallel. The handler checks both
 * promises and reports any break loudly.
 */

export const PROVISIONING_STEPS = ['create-db', 'seed', 'notify'] as const;

/** The seed step of a tenant in this region is refused once (422), so the tenant parks. */
export const UNAVAILABLE_REGION = 'eu-north-9';

export interface ProvisioningStats {
  steps: number;
  tenantsReady: number;
  duplicates: number;
  transientFailures: number;
  refused: number;
  /** Broken promises: two calls for one tenant at once, or a step ahead of its predecessor. */
  overlaps: number;
  outOfOrder: number;
}

export interface ProvisioningOptions {
  log: LineLog;
  random: () => number;
  /** Share of calls answered 500 (database busy); Offload retries them, in order. */
  failureRate: number;
  /** When this receiver started: steps of tenants provisioned before then are not checked. */
  startedAt: number;
}

export function createTenantProvisioning(options: ProvisioningOptions): { handler: Handler; stats(): ProvisioningStats } {
  const { log, random } = options;
  const stats: ProvisioningStats = { steps: 0, tenantsReady: 0, duplicates: 0, transientFailures: 0, refused: 0, overlaps: 0, outOfOrder: 0 };
  /** Steps done per tenant, as far as this receiver has seen. */
  const progress = new Map<string, number>();
  const readyRegions = new Set<string>();
  const inFlight = createInFlightTracker();

  const apply = (tenant: string, event: CloudEvent): Reply => {
    const step = field(event, 'step') ?? '';
    const index = PROVISIONING_STEPS.indexOf(step as (typeof PROVISIONING_STEPS)[number]);
    if (index < 0) return rejected(400, `data.step must be one of ${PROVISIONING_STEPS.join(', ')}`);
    // A later step of a tenant this receiver never saw is left over from an earlier run, when
    // it was queued before this receiver started; otherwise it overtook its predecessor.
    const leftOver = !progress.has(tenant) && acceptedBefore(event, options.startedAt);
    const done = progress.get(tenant) ?? (leftOver ? index : 0);
    if (index < done) {
      stats.duplicates++;
      log(`= tenant ${tenant} ${step} already done, duplicate delivery ignored`);
      return ok({ duplicate: true });
    }
    if (index > done) {
      stats.outOfOrder++;
      log(`✗ OUT OF ORDER: tenant ${tenant} got ${step} before ${PROVISIONING_STEPS[done]}`);
      return rejected(409, `${step} cannot run before ${PROVISIONING_STEPS[done]}`);
    }
    const region = field(event, 'region') ?? '';
    if (step === 'seed' && region === UNAVAILABLE_REGION && !readyRegions.has(region) && !leftOver) {
      readyRegions.add(region); // available by the time an operator retries
      stats.refused++;
      log(`✗ tenant ${tenant} seed: 422 region ${region} not available yet (tenant parked; its notify waits)`);
      return rejected(422, `region ${region} is not available yet; retry later`);
    }
    if (random() < options.failureRate) {
      stats.transientFailures++;
      log(`✗ tenant ${tenant} ${step}: 500 database busy, retried before anything later for this tenant`);
      return unavailable(500, 'tenant database is busy');
    }
    progress.set(tenant, index + 1);
    stats.steps++;
    if (index === PROVISIONING_STEPS.length - 1) stats.tenantsReady++;
    log(`✓ tenant ${tenant} ${index + 1}/${PROVISIONING_STEPS.length} ${step}${attemptNote(event)}${index === PROVISIONING_STEPS.length - 1 ? ': ready' : ''}`);
    return ok({ tenant, step });
  };

  const handler: Handler = async (request) => {
    const event = request.events[0]!;
    const tenant = event.subject ?? field(event, 'tenantId');
    if (!tenant) return rejected(400, 'the tenant id is the message key (CloudEvents subject)');
    if (!inFlight.enter(tenant)) {
      stats.overlaps++;
      log(`✗ OVERLAP: two provisioning calls for tenant ${tenant} at once`);
    }
    try {
      await work(random, 30, 150);
      return apply(tenant, event);
    } finally {
      inFlight.leave(tenant);
    }
  };

  return { handler, stats: () => ({ ...stats }) };
}
