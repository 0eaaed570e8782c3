import { attemptNote, createInFlightTracker, field, ok, rejected, unavailable, work, type CloudEvent, type Handler, type LineLog } from './delivery-request.js';

/**
 * Two consumers of the `domain_events` topic, one per subscription:
 * - a read-model projector that must apply every event in publish order, with no gap: it gets
 *   batches, in sequence, one batch at a time (`ordering: topic`);
 * - billing, another subdomain, that only needs the events of one order in order and handles
 *   different orders in parallel (`ordering: key`, key = order id).
 * Both report any broken promise loudly instead of hiding it.
 */

export interface ProjectorStats {
  batches: number;
  events: number;
  duplicates: number;
  transientFailures: number;
  lastSequence: number | null;
  orders: { placed: number; paid: number };
  /** Broken promises: a sequence skipped, or one going backwards. */
  gaps: number;
  outOfOrder: number;
  overlaps: number;
}

export interface BillingStats {
  events: number;
  invoicesOpen: number;
  invoicesPaid: number;
  duplicates: number;
  transientFailures: number;
  outOfOrder: number;
  overlaps: number;
}

interface ConsumerOptions {
  log: LineLog;
  random: () => number;
  /** Share of calls answered 503/500; the subscription retries the same events, in order. */
  failureRate: number;
}

export function createReadModelProjector(options: ConsumerOptions): { handler: Handler; stats(): ProjectorStats } {
  const { log, random } = options;
  const stats: ProjectorStats = { batches: 0, events: 0, duplicates: 0, transientFailures: 0, lastSequence: null, orders: { placed: 0, paid: 0 }, gaps: 0, outOfOrder: 0, overlaps: 0 };
  const applied = new Set<string>();
  const orders = new Map<string, 'placed' | 'paid'>();
  const inFlight = createInFlightTracker();

  /** Applies one event; returns false when it was already applied. */
  const project = (event: CloudEvent): boolean => {
    if (applied.has(event.id)) return false;
    const sequence = event.sequence ?? Number.NaN;
    const last = stats.lastSequence;
    // The first event this receiver sees sets the baseline: earlier runs used the same topic.
    if (last !== null && sequence !== last + 1) {
      if (sequence > last) stats.gaps++;
      else stats.outOfOrder++;
      log(`✗ ${sequence > last ? 'GAP' : 'OUT OF ORDER'}: read model expected #${last + 1}, got #${sequence}`);
    }
    const orderId = field(event, 'orderId') ?? event.subject ?? '?';
    if (event.type === 'OrderPlaced' && !orders.has(orderId)) orders.set(orderId, 'placed');
    if (event.type === 'OrderPaid') orders.set(orderId, 'paid');
    applied.add(event.id);
    stats.lastSequence = Math.max(last ?? sequence, sequence);
    return true;
  };

  const handler: Handler = async (request) => {
    if (!inFlight.enter('topic')) {
      stats.overlaps++;
      log('✗ OVERLAP: two read-model batches in flight at once');
    }
    try {
      await work(random, 5, 30);
      if (request.events.some((e) => e.sequence === undefined)) return rejected(400, 'topic events carry a sequence');
      if (random() < options.failureRate) {
        stats.transientFailures++;
        log(`✗ read model store busy (503) for a batch of ${request.events.length}, retry after 1s`);
        return unavailable(503, 'read model store is busy', 1);
      }
      const fresh = request.events.filter(project);
      stats.duplicates += request.events.length - fresh.length;
      stats.batches++;
      stats.events += fresh.length;
      stats.orders = countOrders(orders);
      const first = request.events[0]!;
      const range = request.events.length > 1 ? `#${first.sequence}–#${request.events.at(-1)!.sequence}` : `#${first.sequence}`;
      log(`✓ read model: ${fresh.length} event${fresh.length === 1 ? '' : 's'} ${range} applied in order (${stats.orders.placed} orders open, ${stats.orders.paid} paid)${attemptNote(first)}`);
      return ok({ applied: fresh.length, lastSequence: stats.lastSequence });
    } finally {
      inFlight.leave('topic');
    }
  };

  return { handler, stats: () => structuredClone(stats) };
}

function countOrders(orders: ReadonlyMap<string, 'placed' | 'paid'>): { placed: number; paid: number } {
  let placed = 0;
  for (const status of orders.values()) if (status === 'placed') placed++;
  return { placed, paid: orders.size - placed };
}

export function createBillingConsumer(options: ConsumerOptions): { handler: Handler; stats(): BillingStats } {
  const { log, random } = options;
  const stats: BillingStats = { events: 0, invoicesOpen: 0, invoicesPaid: 0, duplicates: 0, transientFailures: 0, outOfOrder: 0, overlaps: 0 };
  const applied = new Set<string>();
  const lastSequence = new Map<string, number>();
  const inFlight = createInFlightTracker();

  const bill = (order: string, event: CloudEvent): void => {
    const previous = lastSequence.get(order);
    const sequence = event.sequence ?? Number.NaN;
    if (previous !== undefined && !(sequence > previous)) {
      stats.outOfOrder++;
      log(`✗ OUT OF ORDER: billing got #${sequence} of order ${order} after #${previous}`);
    }
    lastSequence.set(order, Math.max(previous ?? sequence, sequence));
    applied.add(event.id);
    stats.events++;
    if (event.type === 'OrderPlaced') stats.invoicesOpen++;
    if (event.type === 'OrderPaid') stats.invoicesPaid++;
    const what = event.type === 'OrderPlaced' ? 'invoice opened' : event.type === 'OrderPaid' ? 'invoice paid' : 'ignored';
    log(`✓ billing: ${event.type} ${order} → ${what}${attemptNote(event)}`);
  };

  const handler: Handler = async (request) => {
    const event = request.events[0]!;
    const order = event.subject ?? field(event, 'orderId') ?? '';
    if (!inFlight.enter(order)) {
      stats.overlaps++;
      log(`✗ OVERLAP: two billing calls for order ${order} at once`);
    }
    try {
      await work(random, 5, 40);
      if (applied.has(event.id)) {
        stats.duplicates++;
        return ok({ duplicate: true });
      }
      if (random() < options.failureRate) {
        stats.transientFailures++;
        log(`✗ billing ledger 500 for ${event.type} ${order}; this order waits, others go on`);
        return unavailable(500, 'billing ledger is unavailable');
      }
      bill(order, event);
      return ok({ billed: true });
    } finally {
      inFlight.leave(order);
    }
  };

  return { handler, stats: () => ({ ...stats }) };
}
