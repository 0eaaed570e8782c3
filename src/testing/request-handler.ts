import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { parseDeliveryBody } from './cloud-events.js';
import { playFault, type Fault, type FaultStage, type Latency } from './faults.js';
import type { MutableRecord, RecordBook } from './record-book.js';
import type { Decider } from './request-record.js';

export interface HandlerContext {
  readonly book: RecordBook;
  now(): number;
  /** The current decider (it can be replaced mid-test). */
  decider(): Decider | undefined;
  readonly otherwise: Fault;
  pick(latency: Latency): number;
  readonly latencyMs: Latency;
  readonly targetOf?: (request: { path: string; headers: IncomingHttpHeaders }) => string;
  isClosing(): boolean;
}

/** Records the request, reads its body, chooses a fault and plays it. */
export function createRequestHandler(context: HandlerContext): (req: IncomingMessage, res: ServerResponse) => void {
  const { book } = context;
  return (req, res) => {
    const record = beginRecord(req, book.all().length, context.now(), context.targetOf);
    const timers = new Set<NodeJS.Timeout>();
    book.begin(record, () => {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
    });
    const after: FaultStage['after'] = (ms, fn) => {
      const timer = setTimeout(() => {
        timers.delete(timer);
        fn();
      }, ms);
      timers.add(timer);
    };
    res.on('finish', () => book.end(record, 'answered', res.statusCode));
    // close() ends pending requests as `hung` itself; this covers one parsed while closing.
    res.on('close', () => book.end(record, context.isClosing() ? 'hung' : 'aborted'));
    // A client that gives up mid-upload makes the request emit 'error'; the outcome comes from 'close'.
    req.on('error', () => undefined);
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      if (!book.isPending(record)) return;
      read(record, Buffer.concat(chunks).toString('utf8'));
      const reset = (): void => {
        book.end(record, 'reset');
        res.socket?.resetAndDestroy();
      };
      const fault = choose(record, context);
      book.decided(record);
      playFault(fault, { response: res, after, pick: context.pick, reset }, context.pick(context.latencyMs));
    });
  };
}

function read(record: MutableRecord, body: string): void {
  const parsed = parseDeliveryBody(record.contentType, body, record.idempotencyKey);
  record.body = body;
  record.events = parsed.events;
  if (parsed.parseError) record.parseError = parsed.parseError;
}

// A throwing decider is a bug in the test; answering 500 and keeping the message makes it visible
// in the records without crashing the receiver mid-run.
function choose(record: MutableRecord, context: HandlerContext): Fault {
  try {
    record.fault = context.decider()?.(record) ?? context.otherwise;
  } catch (error) {
    record.decideError = error instanceof Error ? error.message : String(error);
    record.fault = { kind: 'status', status: 500, body: `decider failed: ${record.decideError}` };
  }
  return record.fault;
}

function beginRecord(
  req: IncomingMessage,
  index: number,
  startedAt: number,
  targetOf: HandlerContext['targetOf'],
): MutableRecord {
  const path = (req.url ?? '/').split('?')[0] ?? '/';
  const header = (name: string): string | undefined => {
    const value = req.headers[name];
    return Array.isArray(value) ? value[0] : value;
  };
  const record: MutableRecord = {
    index,
    method: req.method ?? 'GET',
    path,
    target: targetOf ? targetOf({ path, headers: req.headers }) : path,
    headers: req.headers,
    body: '',
    events: [],
    startedAt,
    outcome: 'pending',
  };
  const idempotencyKey = header('idempotency-key');
  const contentType = header('content-type')?.split(';')[0]?.trim();
  if (idempotencyKey !== undefined) record.idempotencyKey = idempotencyKey;
  if (contentType !== undefined) record.contentType = contentType;
  return record;
}
