import type { Json } from '../client/index.js';
import { ageOf, formatAge, formatCount, renderFields, renderTable, type Column, type Style } from './format.js';

/** One row of `GET /v1/channels`, with the delivery rate the CLI measured. */
export type ChannelRow = Json & { ratePerSecond?: number | null };

const num = (v: unknown) => (typeof v === 'number' ? v : 0);
const text = (v: unknown) => (v === null || v === undefined ? '-' : String(v));

function stateOf(row: Json): string {
  if (row.paused) return 'paused';
  if (num(row.stalledLanes) > 0) return row.kind === 'subscription' && row.stalled ? 'stalled' : `${num(row.stalledLanes)} stalled`;
  if (num(row.parkedKeys) > 0) return `${num(row.parkedKeys)} parked`;
  return 'ok';
}

/** Every channel: what waits, how fast it goes, and what is stuck. */
export function renderChannels(rows: readonly ChannelRow[], style: Style): string {
  if (rows.length === 0) return 'no channels are configured';
  const columns: Array<Column<ChannelRow>> = [
    { header: 'CHANNEL', value: (r) => text(r.name) },
    { header: 'KIND', value: (r) => text(r.kind) },
    {
      header: 'STATE',
      value: stateOf,
      colour: (r, t) => (stateOf(r) === 'ok' ? style.good(t) : stateOf(r) === 'paused' ? style.warn(t) : style.bad(t)),
    },
    { header: 'DEPTH', value: (r) => formatCount(r.depth), align: 'right' },
    { header: 'IN FLIGHT', value: (r) => formatCount(r.inFlight), align: 'right' },
    { header: 'OLDEST', value: (r) => (num(r.depth) > 0 ? formatAge(r.oldestAgeMs as number | null) : '-'), align: 'right' },
    { header: 'LAG', value: (r) => (r.kind === 'subscription' ? formatCount(r.lag) : '-'), align: 'right' },
    { header: 'RATE/S', value: (r) => (typeof r.ratePerSecond === 'number' ? r.ratePerSecond.toFixed(1) : '-'), align: 'right' },
    { header: 'DELIVERED', value: (r) => formatCount(r.delivered), align: 'right' },
    { header: 'DEAD', value: (r) => formatCount(r.deadLettered), align: 'right', colour: (r, t) => (num(r.deadLettered) > 0 ? style.bad(t) : t) },
    {
      header: 'BREAKER',
      value: (r) => text(r.breaker),
      colour: (r, t) => (r.breaker === 'open' ? style.bad(t) : r.breaker === 'half-open' ? style.warn(t) : t),
    },
  ];
  return renderTable(rows, columns, style);
}

interface Attempt {
  attempt?: number;
  startedAt?: string;
  durationMs?: number;
  statusCode?: number | null;
  error?: string | null;
  response?: string | null;
}

const historyOf = (row: Json): Attempt[] => (Array.isArray(row.history) ? (row.history as Attempt[]) : []);

/** What the last attempt got back: an HTTP status, or the kind of failure. */
export function lastStatusOf(row: Json): string {
  const last = historyOf(row).at(-1);
  if (!last) return '-';
  if (typeof last.statusCode === 'number') return String(last.statusCode);
  return last.error ? (/timeout|timed out/i.test(last.error) ? 'timeout' : 'error') : '-';
}

/** One line per dead letter: id, age, attempts, last status, reason. */
export function renderDeadLetters(rows: readonly Json[], style: Style, now: number, width: number): string {
  if (rows.length === 0) return 'no dead letters';
  const columns: Array<Column<Json>> = [
    { header: 'ID', value: (r) => text(r.id) },
    { header: 'AGE', value: (r) => ageOf(r.createdAt, now), align: 'right' },
    { header: 'ATTEMPTS', value: (r) => formatCount(r.attempts), align: 'right' },
    { header: 'LAST', value: lastStatusOf, colour: (_r, t) => style.bad(t) },
    { header: 'REASON', value: (r) => text(r.lastError) },
  ];
  return renderTable(rows, columns, style, width);
}

/** Parked keys of a fifo queue, or blocked lanes of a subscription. */
export function renderLanes(rows: readonly Json[], style: Style, now: number, width: number): string {
  if (rows.length === 0) return 'nothing is blocked';
  const head = (r: Json) => (r.head && typeof r.head === 'object' ? (r.head as Json) : undefined);
  const columns: Array<Column<Json>> = [
    { header: 'KEY', value: (r) => (r.key === '' ? '(all)' : text(r.key)) },
    { header: 'STATE', value: (r) => text(r.state), colour: (_r, t) => style.bad(t) },
    { header: 'SINCE', value: (r) => ageOf(r.since, now), align: 'right' },
    { header: 'WAITING', value: (r) => formatCount(r.pending), align: 'right' },
    { header: 'HEAD', value: (r) => text(head(r)?.id) },
    { header: 'REASON', value: (r) => text(r.reason) },
  ];
  return renderTable(rows, columns, style, width);
}

/** A message with every delivery and every attempt. */
export function renderMessage(message: Json, style: Style, now: number, width: number): string {
  const fields: Array<readonly [string, string]> = [
    ['id', text(message.id)],
    ['channel', text(message.channel)],
    ['status', text(message.status)],
  ];
  if (message.key !== null && message.key !== undefined) fields.push(['key', text(message.key)]);
  if (message.type) fields.push(['type', text(message.type)]);
  fields.push(['created', `${text(message.createdAt)} (${ageOf(message.createdAt, now)} ago)`]);
  if (message.deliverAt) fields.push(['deliver at', text(message.deliverAt)]);
  if (typeof message.priority === 'number' && message.priority !== 0) fields.push(['priority', text(message.priority)]);
  if (message.expiresAt) fields.push(['expires at', text(message.expiresAt)]);
  if (message.sequence !== null && message.sequence !== undefined) fields.push(['sequence', text(message.sequence)]);
  const parts = [renderFields(fields, style)];
  const deliveries = Array.isArray(message.deliveries) ? (message.deliveries as Json[]) : [message];
  for (const d of deliveries) {
    const history = historyOf(d);
    // A redrive or an operator's retry starts the count of attempts again; the history keeps every call.
    const counted = `${formatCount(d.attempts)} attempt(s)${history.length !== Number(d.attempts ?? 0) ? ` counted, ${formatCount(history.length)} call(s) recorded` : ''}`;
    const line = [`${style.bold(text(d.target))}: ${text(d.status)}`, counted];
    if (d.nextAttemptAt) line.push(`next ${text(d.nextAttemptAt)}`);
    const block = [line.join(', ')];
    if (d.lastError) block.push(`  reason: ${text(d.lastError)}`);
    if (history.length > 0) {
      const columns: Array<Column<Attempt>> = [
        { header: '#', value: (a) => formatCount(a.attempt), align: 'right' },
        { header: 'STARTED', value: (a) => text(a.startedAt) },
        { header: 'TOOK', value: (a) => formatAge(a.durationMs), align: 'right' },
        { header: 'STATUS', value: (a) => (typeof a.statusCode === 'number' ? String(a.statusCode) : '-') },
        { header: 'ERROR / RESPONSE', value: (a) => text(a.error ?? a.response) },
      ];
      block.push(indent(renderTable(history, columns, style, width > 0 ? width - 2 : 0)));
    }
    parts.push(block.join('\n'));
  }
  parts.push(`${style.dim('data:')}\n${indent(JSON.stringify(message.data, null, 2))}`);
  return parts.join('\n\n');
}

/** A subscription's counters and its blocked lanes. */
export function renderSubscription(sub: Json, style: Style, now: number, width: number): string {
  const fields: Array<readonly [string, string]> = [
    ['subscription', text(sub.name)],
    ['state', sub.paused ? 'paused' : sub.stalled ? 'stalled' : 'ok'],
    ['lag', formatCount(sub.lag ?? sub.depth)],
    ['in flight', formatCount(sub.inFlight)],
    ['breaker', sub.breaker === 'open' ? style.bad('open') : sub.breaker === 'half-open' ? style.warn('half-open') : text(sub.breaker ?? 'closed')],
    ['oldest', num(sub.depth) > 0 ? formatAge(sub.oldestAgeMs as number | null) : '-'],
    ['delivered', formatCount(sub.delivered)],
    ['skipped', formatCount(sub.skipped)],
    ['last sequence', formatCount(sub.lastSequence)],
    ['filter', filterText(sub.filter)],
  ];
  const lanes = Array.isArray(sub.blockedLanes) ? (sub.blockedLanes as Json[]) : [];
  return `${renderFields(fields, style)}\n\n${renderLanes(lanes, style, now, width)}`;
}

/** A subscription filter in one line: `types A, B*; keys eu-*`, or that every event is taken. */
function filterText(filter: unknown): string {
  if (!filter || typeof filter !== 'object') return 'none (every event)';
  const { types, keys } = filter as { types?: unknown; keys?: unknown };
  const list = (value: unknown) => (Array.isArray(value) ? value.map(String).join(', ') : '');
  return `types ${list(types)}${Array.isArray(keys) ? `; keys ${list(keys)}` : ''}`;
}

function indent(block: string): string {
  return block
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n');
}
