import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createSeededRandom } from './deciders.js';
import type { Exclusivity } from './exclusivity.js';
import type { Fault, Latency } from './faults.js';
import type { Delivery } from './history-types.js';
import type { IdempotentLedger } from './idempotent-ledger.js';
import { createRecordBook } from './record-book.js';
import { createRequestHandler } from './request-handler.js';
import { isAccepted, type Decider, type OverlapViolation, type RequestRecord } from './request-record.js';
import { createWaiters, type WaiterOptions } from './waiters.js';

export type { WaiterOptions } from './waiters.js';

export interface FaultReceiverOptions {
  /** Chooses the fault for each request; `undefined` means `otherwise`. Default: none. */
  decide?: Decider;
  /** The fault when `decide` has no opinion. Default `{ kind: 'ok' }`. */
  otherwise?: Fault;
  /** Added before every answer (not before `hang` or `reset`), e.g. `{ min: 0, max: 20 }`. Default 0. */
  latencyMs?: Latency;
  /** Seeds the generator behind random latencies, so a run can be replayed. Default 1. */
  seed?: number;
  /** Default `127.0.0.1`. */
  host?: string;
  /** Default 0: any free port. */
  port?: number;
  /** Names the target of a request. Default: its path. */
  targetOf?: (request: { path: string; headers: IncomingHttpHeaders }) => string;
  /** Records an overlap violation when requests of one scope are in flight together. Default `none`. */
  exclusive?: Exclusivity;
  /** Epoch ms with sub-millisecond precision by default, so close intervals stay ordered. */
  now?: () => number;
}

/** The idempotent-endpoint view: how many 2xx answers each id got. */
export type AppliedView = Omit<IdempotentLedger, 'apply'>;

export interface FaultReceiver {
  /** `http://host:port`, without a trailing slash. */
  readonly url: string;
  now(): number;
  /** Every request so far, in arrival order. The records are live until they end. */
  records(): RequestRecord[];
  /** Requests started and not ended. */
  inFlight(): RequestRecord[];
  /** Ids answered 2xx at least once, in order of first acceptance (at `target`, or anywhere). */
  acceptedIds(target?: string): string[];
  /** Per id, how many 2xx answers it got (a live view). */
  acceptCounts(target?: string): ReadonlyMap<string, number>;
  /** Per id, whether it was applied exactly once, and which ids were applied more than once. */
  applied(target?: string): AppliedView;
  /** Overlaps found under the `exclusive` option. */
  overlaps(): OverlapViolation[];
  /** The records as history-checker deliveries, one per event. */
  deliveries(): Delivery[];
  /** Replaces the decider, e.g. to heal an endpoint mid-test. */
  setDecider(decide: Decider | undefined): void;
  /**
   * Resolves once `predicate` holds. Re-checked whenever a request has been read and whenever
   * one ends, so there is no polling; rejects on timeout or when the receiver closes.
   */
  waitFor(predicate: (receiver: FaultReceiver) => boolean, options?: WaiterOptions): Promise<void>;
  /** Closes every connection, hung ones included, and clears every timer. Idempotent. */
  close(): Promise<void>;
}

const defaultNow = (): number => performance.timeOrigin + performance.now();

/** An HTTP endpoint for tests that answers each request with a chosen fault and records what happened. */
export async function createFaultReceiver(options: FaultReceiverOptions = {}): Promise<FaultReceiver> {
  const now = options.now ?? defaultNow;
  const random = createSeededRandom(options.seed ?? 1);
  let decide = options.decide;
  let closing = false;
  // Waiters describe the receiver in their timeout errors; `receiver` exists by the time one fires.
  const waiters = createWaiters(() => describeState(receiver));
  const book = createRecordBook({ now, exclusive: options.exclusive ?? 'none', onChange: () => waiters.check() });
  const handler = createRequestHandler({
    book,
    now,
    decider: () => decide,
    otherwise: options.otherwise ?? { kind: 'ok' },
    pick: (latency) => (typeof latency === 'number' ? latency : latency.min + random() * (latency.max - latency.min)),
    latencyMs: options.latencyMs ?? 0,
    targetOf: options.targetOf,
    isClosing: () => closing,
  });
  const { server, url } = await listen(handler, options.host ?? '127.0.0.1', options.port ?? 0);

  let closed: Promise<void> | undefined;
  const receiver: FaultReceiver = {
    url,
    now,
    records: () => [...book.all()],
    inFlight: () => book.pending(),
    acceptedIds: (target) => book.ledger(target).ids(),
    acceptCounts: (target) => book.ledger(target).counts(),
    applied: (target) => readOnly(book.ledger(target)),
    overlaps: () => book.overlaps(),
    deliveries: () => book.all().flatMap(toDeliveries),
    setDecider: (next) => {
      decide = next;
    },
    waitFor: (predicate, waitOptions) => waiters.add(() => predicate(receiver), waitOptions),
    close: () =>
      (closed ??= new Promise<void>((resolve) => {
        closing = true;
        waiters.rejectAll(new Error('fault receiver closed'));
        for (const record of book.pending()) book.end(record, 'hung');
        server.close(() => resolve());
        server.closeAllConnections();
      })),
  };
  return receiver;
}

async function listen(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
  host: string,
  port: number,
): Promise<{ server: Server; url: string }> {
  const server = createServer(handler);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const hostname = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return { server, url: `http://${hostname}:${address.port}` };
}

function toDeliveries(record: RequestRecord): Delivery[] {
  const outcome = isAccepted(record) ? 'ok' : 'failed';
  return record.events.map((event) => ({
    target: record.target,
    id: event.id,
    key: event.key,
    sequence: event.sequence,
    attempt: event.attempt,
    startedAt: record.startedAt,
    endedAt: record.endedAt,
    outcome,
    request: record.index,
  }));
}

function readOnly(ledger: IdempotentLedger): AppliedView {
  return {
    count: (id) => ledger.count(id),
    appliedOnce: (id) => ledger.appliedOnce(id),
    ids: () => ledger.ids(),
    duplicates: () => ledger.duplicates(),
    counts: () => ledger.counts(),
    get size() {
      return ledger.size;
    },
  };
}

function describeState(receiver: FaultReceiver): string {
  const records = receiver.records();
  return (
    `${records.length} requests, ${receiver.inFlight().length} in flight, ` +
    `${receiver.acceptCounts().size} ids accepted`
  );
}
