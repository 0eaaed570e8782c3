// @ts-check
import { $, badge, clock, duration, el, fmt, relative, setClass, setText } from './lib/dom.js';
import { api, channelPath, enc, notify, subscriptionPath } from './lib/api.js';
import { openSeek } from './seek.js';

/**
 * The overview: every channel from `GET /v1/channels` (refreshed every 2 s), the circuit
 * breakers, the summary tiles, and the operator actions on a channel (pause, redrive, parked
 * keys and stalled lanes).
 * @typedef {{ deliveredPerSec: number, failedPerSec: number, latencyP50Ms: number | null, latencyP99Ms: number | null }} Rates
 * @typedef {{ name: string, kind: string, paused: boolean, depth: number, inFlight: number, oldestAgeMs: number, delivered: number,
 *   deadLettered: number, skipped: number, parkedKeys: number, stalledLanes: number, stalled?: boolean, lastSequence?: number | null, keptFrom?: number,
 *   endpoint?: string, breaker?: string, rates?: Rates }} Channel
 * @typedef {'name' | 'kind' | 'state' | 'depth' | 'inFlight' | 'oldest' | 'rate' | 'delivered' | 'dead' | 'blocked' | 'breaker' | 'actions'} Column
 * @typedef {{ pause?: HTMLButtonElement, redrive?: HTMLButtonElement, lanes?: HTMLButtonElement, seek?: HTMLButtonElement }} Buttons
 * @typedef {{ tr: HTMLTableRowElement, cells: Record<Column, HTMLTableCellElement>, buttons: Buttons, data: Channel }} Row
 * @typedef {{ tr: HTMLTableRowElement, cell: HTMLTableCellElement, signature: string, since: Array<{ node: HTMLElement, at: string | null }> }} Detail
 */

const REFRESH_MS = 2000;
/** @type {Column[]} */
const COLUMNS = ['name', 'kind', 'state', 'depth', 'inFlight', 'oldest', 'rate', 'delivered', 'dead', 'blocked', 'breaker', 'actions'];
const NUMERIC = new Set(['depth', 'inFlight', 'oldest', 'rate', 'delivered', 'dead', 'blocked', 'actions']);

/** @type {Map<string, Row>} */
const rows = new Map();
/** @type {Map<string, Detail>} */
const details = new Map();
/** @type {Array<(channels: Channel[]) => void>} */
const listeners = [];

/** The channels as last read. */
export function channels() {
  return [...rows.values()].map((r) => r.data);
}
/** Called after every successful refresh. @param {(channels: Channel[]) => void} listener */
export function onChannels(listener) {
  listeners.push(listener);
}

/** Per-second rates: one decimal below 10, whole numbers above. @param {number} n */
function rate(n) {
  return n < 10 ? n.toFixed(1) : fmt(Math.round(n));
}

/** @param {Channel} c */
function sortKey(c) {
  const internal = c.name.startsWith('_') ? '1' : '0';
  if (c.kind === 'subscription') return internal + '1' + c.name.replace('/', '\u0000');
  if (c.kind === 'topic') return internal + '1' + c.name;
  return internal + '0' + c.name;
}

/** @param {Channel} c @returns {Row} */
function createRow(c) {
  const internal = c.name.startsWith('_');
  const tr = el('tr', { class: c.kind === 'subscription' ? 'sub' : '', 'data-channel': c.name });
  const cells = /** @type {Record<Column, HTMLTableCellElement>} */ (Object.fromEntries(COLUMNS.map((name) => [name, el('td', { class: NUMERIC.has(name) ? 'num' : name === 'name' ? 'name' : '' })])));
  for (const name of COLUMNS) tr.append(cells[name]);
  const label = c.kind === 'subscription' ? c.name.slice(c.name.indexOf('/') + 1) : c.name;
  cells.name.append(el('b', { text: label, title: c.name }), ' ', el('span', { class: 'dim small' }));
  cells.kind.append(badge(internal ? 'internal' : c.kind, c.kind === 'fifo' ? 'info' : '', internal ? 'notification queue Offload uses itself' : ''));
  /** @type {Buttons} */
  const buttons = {};
  const actions = el('div', { class: 'actions' });
  if (!internal) {
    buttons.pause = el('button', { type: 'button', 'data-action': 'pause', 'data-name': c.name });
    if (c.kind === 'queue' || c.kind === 'fifo') buttons.redrive = el('button', { type: 'button', 'data-action': 'redrive', 'data-name': c.name, text: 'Redrive', title: 'Put every dead letter back in the queue' });
    if (c.kind === 'fifo' || c.kind === 'subscription') buttons.lanes = el('button', { type: 'button', 'data-action': 'lanes', 'data-name': c.name });
    if (c.kind === 'subscription') buttons.seek = el('button', { type: 'button', 'data-action': 'seek', 'data-name': c.name, text: 'Seek…', title: 'Replay from a sequence or time, or skip ahead' });
    actions.append(...[buttons.lanes, buttons.seek, buttons.redrive, buttons.pause].filter((b) => b !== undefined));
  }
  cells.actions.append(actions);
  return { tr, cells, buttons, data: c };
}

/** @param {Row} row @param {Channel} c */
function updateRow(row, c) {
  const { cells, buttons } = row;
  row.data = c;
  const blocked = c.kind === 'fifo' ? c.parkedKeys : c.kind === 'subscription' ? c.stalledLanes : 0;
  const alert = blocked > 0 || c.breaker === 'open';
  setClass(row.tr, ((c.kind === 'subscription' ? 'sub ' : '') + (alert ? 'alert' : c.deadLettered > 0 || c.breaker === 'half-open' ? 'caution' : '')).trim());
  const seq = cells.name.lastChild;
  if (seq) setText(seq, c.lastSequence !== undefined && c.lastSequence !== null ? 'seq ' + fmt(c.lastSequence) : '');
  const stateBadge = c.kind === 'subscription' && c.stalled ? badge('stalled', 'bad')
    : c.kind === 'fifo' && c.parkedKeys > 0 ? badge('keys parked', 'bad')
    : c.breaker === 'open' ? badge('held: circuit open', 'bad', 'nothing is sent to ' + c.endpoint + ' and no attempt is counted until a probe succeeds')
    : c.paused ? badge('paused', 'warn') : badge('active', 'ok');
  if (c.paused && stateBadge.textContent !== 'paused') stateBadge.textContent += ' · paused';
  replaceIfChanged(cells.state, stateBadge);
  const topic = c.kind === 'topic';
  setText(cells.depth, topic ? '—' : fmt(c.depth));
  setText(cells.inFlight, topic ? '—' : fmt(c.inFlight));
  setText(cells.oldest, topic || !c.oldestAgeMs ? '—' : duration(c.oldestAgeMs));
  const r = c.rates;
  setText(cells.rate, r ? rate(r.deliveredPerSec) + (r.failedPerSec > 0 ? ' · ' + rate(r.failedPerSec) + ' failed' : '') : '—');
  cells.rate.title = r && r.latencyP50Ms !== null ? 'enqueue to delivery p50 ' + duration(r.latencyP50Ms) + ', p99 ' + duration(r.latencyP99Ms) : '';
  setText(cells.delivered, topic ? '—' : fmt(c.delivered));
  setText(cells.dead, topic || c.kind === 'subscription' ? '—' : fmt(c.deadLettered));
  setClass(cells.dead, 'num' + (c.deadLettered > 0 ? ' hot' : ''));
  setText(cells.blocked, c.kind === 'fifo' ? fmt(c.parkedKeys) + ' parked' : c.kind === 'subscription' ? fmt(c.stalledLanes) + ' stalled' : '—');
  setClass(cells.blocked, 'num' + (blocked > 0 ? ' hot' : ''));
  replaceIfChanged(cells.breaker, c.breaker ? badge(c.breaker, c.breaker === 'open' ? 'bad' : c.breaker === 'half-open' ? 'warn' : '', c.endpoint ? 'endpoint ' + c.endpoint : '') : el('span', { class: 'dim', text: '—' }));
  if (buttons.pause) {
    setText(buttons.pause, c.paused ? 'Resume' : 'Pause');
    buttons.pause.dataset.action = c.paused ? 'resume' : 'pause';
    buttons.pause.className = c.paused ? 'primary' : '';
  }
  if (buttons.redrive) {
    buttons.redrive.hidden = !(c.deadLettered > 0);
    setText(buttons.redrive, 'Redrive ' + fmt(c.deadLettered));
  }
  if (buttons.lanes) {
    const open = details.has(c.name);
    buttons.lanes.hidden = !(blocked > 0 || open);
    setText(buttons.lanes, (c.kind === 'fifo' ? 'Parked keys' : 'Stalled lanes') + (open ? ' ▴' : ' ▾'));
  }
}

/** @param {HTMLElement} cell @param {HTMLElement} node */
function replaceIfChanged(cell, node) {
  const old = cell.firstElementChild;
  if (old && old.outerHTML === node.outerHTML) return;
  cell.replaceChildren(node);
}

/** @param {Channel[]} items */
function renderChannels(items) {
  const body = $('channels-body');
  if (items.length === 0) {
    body.replaceChildren(el('tr', {}, el('td', { colSpan: COLUMNS.length, class: 'dim', text: 'No channels are configured.' })));
    rows.clear();
    return;
  }
  /** @type {HTMLTableRowElement[]} */
  const wanted = [];
  const seen = new Set();
  for (const c of items.slice().sort((a, b) => (sortKey(a) < sortKey(b) ? -1 : 1))) {
    let row = rows.get(c.name);
    if (!row || row.data.kind !== c.kind) {
      row = createRow(c);
      rows.set(c.name, row);
    }
    updateRow(row, c);
    seen.add(c.name);
    wanted.push(row.tr);
    const detail = details.get(c.name);
    if (detail) wanted.push(detail.tr);
  }
  for (const name of rows.keys()) if (!seen.has(name)) { rows.delete(name); details.delete(name); }
  // Move rows only where needed, so a button under the pointer is not re-created mid-click.
  wanted.forEach((tr, i) => { if (body.children[i] !== tr) body.insertBefore(tr, body.children[i] || null); });
  while (body.children.length > wanted.length) body.lastElementChild?.remove();
}

/** @param {Channel[]} items @param {Array<{ state: string }> | null} breakers */
function renderSummary(items, breakers) {
  /** @param {(c: Channel) => number | undefined} f */
  const sum = (f) => items.reduce((n, c) => n + (f(c) || 0), 0);
  /** @param {string} id @param {string} value @param {string} [level] */
  const tile = (id, value, level) => {
    const node = $(id);
    const v = node.querySelector('.value');
    if (v) setText(v, value);
    setClass(node, 'tile' + (level ? ' ' + level : ''));
  };
  const targets = items.filter((c) => c.kind !== 'topic');
  tile('sum-depth', fmt(targets.reduce((n, c) => n + c.depth, 0)));
  tile('sum-inflight', fmt(sum((c) => c.inFlight)));
  tile('sum-delivered', fmt(sum((c) => c.delivered)));
  tile('sum-rate', rate(targets.reduce((n, c) => n + (c.rates ? c.rates.deliveredPerSec : 0), 0)));
  const dead = sum((c) => c.deadLettered);
  tile('sum-dead', fmt(dead), dead > 0 ? 'bad' : '');
  const parked = sum((c) => c.parkedKeys);
  const stalled = sum((c) => c.stalledLanes);
  tile('sum-blocked', fmt(parked) + ' · ' + fmt(stalled), parked + stalled > 0 ? 'bad' : '');
  if (breakers) {
    const open = breakers.filter((b) => b.state !== 'closed').length;
    tile('sum-breakers', fmt(open) + ' / ' + fmt(breakers.length), breakers.some((b) => b.state === 'open') ? 'bad' : open > 0 ? 'warn' : '');
  }
}

// ---------- parked keys and stalled lanes ----------
/** @param {string} name */
function toggleLanes(name) {
  const open = details.get(name);
  if (open) {
    open.tr.remove();
    details.delete(name);
  } else {
    const cell = el('td', { colSpan: COLUMNS.length }, el('div', { class: 'empty', text: 'Loading…' }));
    details.set(name, { tr: el('tr', { class: 'detail' }, cell), cell, signature: '', since: [] });
    void loadLanes(name);
  }
  const row = rows.get(name);
  if (row) {
    updateRow(row, row.data);
    renderChannels(channels());
  }
}

/** @param {string} name */
async function loadLanes(name) {
  const row = rows.get(name);
  const detail = details.get(name);
  if (!row || !detail) return;
  let lanes;
  try {
    lanes = row.data.kind === 'fifo' ? (await api('GET', '/v1/queues/' + enc(name) + '/parked')).items : (await api('GET', subscriptionPath(name))).blockedLanes;
  } catch (error) {
    detail.signature = '';
    detail.cell.replaceChildren(el('div', { class: 'notice error', text: error instanceof Error ? error.message : String(error) }));
    return;
  }
  const signature = JSON.stringify(lanes);
  if (signature !== detail.signature) {
    detail.signature = signature;
    detail.since = [];
    detail.cell.replaceChildren(lanesTable(row.data, lanes, detail));
  }
  for (const s of detail.since) setText(s.node, relative(s.at));
}

/**
 * @param {Channel} channel
 * @param {Array<{ key: string, state: string, since: string | null, pending: number, reason: string | null,
 *   head: { id: string, type: string, sequence: number | null, attempts: number, lastError: string | null } | null }>} lanes
 * @param {Detail} detail
 */
function lanesTable(channel, lanes, detail) {
  const fifo = channel.kind === 'fifo';
  if (lanes.length === 0) return el('div', { class: 'empty', text: fifo ? 'No key is parked.' : 'Nothing is stalled: the subscription is moving.' });
  const head = el('tr', {}, ...[fifo ? 'Key' : 'Lane', 'State', 'Since', 'Pending', 'Head message', 'Attempts', 'Reason', ''].map((t) => el('th', { text: t })));
  const body = lanes.map((lane) => {
    const since = el('td', { text: relative(lane.since), title: lane.since || '' });
    detail.since.push({ node: since, at: lane.since });
    const h = lane.head;
    return el('tr', { 'data-lane': lane.key },
      el('td', { class: 'mono', text: lane.key === '' ? '(whole topic)' : lane.key }),
      el('td', {}, badge(lane.state, lane.state === 'active' ? '' : 'bad')),
      since,
      el('td', { class: 'num', text: fmt(lane.pending) }),
      el('td', { class: 'mono' }, h ? el('a', { href: messageHref(h.id, channel.name), text: h.id, title: h.type + (h.sequence !== null ? ' · seq ' + h.sequence : '') }) : '—'),
      el('td', { class: 'num', text: h ? fmt(h.attempts) : '—' }),
      el('td', { class: 'wrap', text: lane.reason || (h && h.lastError) || '—' }),
      el('td', {}, el('div', { class: 'actions' },
        el('button', { type: 'button', text: 'Retry now', title: 'Deliver the head again now', 'data-action': 'lane-retry', 'data-name': channel.name, 'data-key': lane.key }),
        el('button', { type: 'button', class: 'danger', text: 'Skip head', title: 'Move the head message aside (kept, can be redelivered) and go on', 'data-action': 'lane-skip', 'data-name': channel.name, 'data-key': lane.key, 'data-head': h ? h.id : '' }))));
  });
  return el('table', {}, el('thead', {}, head), el('tbody', {}, ...body));
}

/** Link to a message's page in the explorer. @param {string} id @param {string} [channel] */
export function messageHref(id, channel) {
  const topic = channel && channel.includes('/') ? channel.slice(0, channel.indexOf('/')) : channel;
  return '#message/' + enc(id) + (topic ? '?channel=' + enc(topic) : '');
}

/** @param {{ kind: string, name: string }} channel @param {string} key @param {string} action */
export function lanePath(channel, key, action) {
  if (channel.kind === 'fifo' || channel.kind === 'queue') return '/v1/queues/' + enc(channel.name) + '/parked/' + enc(key) + '/' + action;
  return subscriptionPath(channel.name) + '/' + action + (key ? '?key=' + enc(key) : '');
}

/** @param {MouseEvent} e */
async function onAction(e) {
  const button = /** @type {HTMLElement} */ (e.target).closest('button[data-action]');
  if (!(button instanceof HTMLButtonElement)) return;
  const { action, name, key, head } = button.dataset;
  if (!action || !name) return;
  const row = rows.get(name);
  if (!row) return;
  const c = row.data;
  if (action === 'lanes') return toggleLanes(name);
  if (action === 'seek') return openSeek({ ...c, keptFrom: rows.get(name.slice(0, name.indexOf('/')))?.data.keptFrom }, () => void refresh());
  /** @type {() => Promise<any>} */
  let request;
  /** @type {(answer: any) => string} */
  let done;
  const lane = key ?? '';
  if (action === 'pause' || action === 'resume') {
    request = () => api('POST', channelPath(c, action));
    done = () => (action === 'pause' ? 'Paused ' : 'Resumed ') + c.kind + ' ' + name + '.';
  } else if (action === 'redrive') {
    if (!confirm('Redrive ' + fmt(c.deadLettered) + ' dead letter(s) of ' + name + '?')) return;
    request = () => api('POST', '/v1/queues/' + enc(name) + '/deadletters/redrive', {});
    done = (answer) => 'Redrove ' + fmt(answer.redriven) + ' message(s) on ' + name + '.';
  } else if (action === 'lane-retry') {
    request = () => api('POST', lanePath(c, lane, 'retry'));
    done = () => 'Retrying the head of ' + (lane ? "key '" + lane + "'" : name) + ' now.';
  } else if (action === 'lane-skip') {
    const what = (head ? 'message ' + head : 'the head message') + (lane ? " of key '" + lane + "'" : '') + ' on ' + name;
    if (!confirm('Skip ' + what + '? It is kept in the skipped list and can be redelivered; the messages behind it go on.')) return;
    request = () => api('POST', lanePath(c, lane, 'skip'));
    done = (answer) => 'Skipped ' + (answer.skipped ? answer.skipped.id : 'the head') + (lane ? " of key '" + lane + "'" : '') + ' on ' + name + '.';
  } else return;
  button.disabled = true;
  try {
    notify(done(await request()), false);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    notify(message.includes(name) ? message : name + ': ' + message, true);
  } finally {
    button.disabled = false;
    void refresh();
  }
}

/** @param {Array<{ origin: string, endpoints: string[], state: string, openUntil: string | null, since: string | null }>} items */
function renderBreakers(items) {
  const body = $('breakers-body');
  if (items.length === 0) {
    body.replaceChildren(el('tr', {}, el('td', { colSpan: 5, class: 'dim', text: 'No endpoint has a circuit breaker.' })));
    return;
  }
  body.replaceChildren(...items.map((b) => el('tr', { class: b.state === 'open' ? 'alert' : b.state === 'half-open' ? 'caution' : '' },
    el('td', { class: 'mono', text: b.origin }),
    el('td', { text: b.endpoints.join(', ') }),
    el('td', {}, badge(b.state, b.state === 'open' ? 'bad' : b.state === 'half-open' ? 'warn' : 'ok')),
    el('td', { text: b.state === 'closed' ? '—' : relative(b.openUntil), title: b.openUntil || '' }),
    el('td', { text: relative(b.since), title: b.since || '' }))));
}

/**
 * Endpoints with flow control (`GET /v1/endpoints`): the limits in force on this instance; with a
 * maxConcurrency, the calls in flight from every instance too.
 * @param {Array<{ name: string, channels: string[], rateLimit?: { perSecond: number } | null, maxConcurrency?: number | null, adaptive?: unknown,
 *   currentRate?: number | null, currentConcurrency?: number | null, inFlight?: number | null, inFlightTotal?: number | null, waiting: string[], throttled: number, cuts: number }>} items
 */
function renderEndpoints(items) {
  const body = $('endpoints-body');
  const limited = items.filter((e) => e.rateLimit || e.maxConcurrency || e.adaptive);
  if (limited.length === 0) {
    body.replaceChildren(el('tr', {}, el('td', { colSpan: 6, class: 'dim', text: 'No endpoint has a rate limit, a concurrency limit or adaptive limits.' })));
    return;
  }
  /** @param {number | null | undefined} now @param {number | null | undefined} configured */
  const limit = (now, configured) => (now === null || now === undefined ? '—'
    : configured !== null && configured !== undefined && now < configured ? fmt(Math.round(now * 10) / 10) + ' of ' + fmt(configured) : fmt(Math.round(now * 10) / 10));
  body.replaceChildren(...limited.map((e) => el('tr', { class: e.waiting.length > 0 ? 'caution' : '' },
    el('td', { text: e.name + (e.adaptive ? ' (adaptive)' : ''), title: e.channels.join(', ') }),
    el('td', { text: limit(e.currentRate, e.rateLimit ? e.rateLimit.perSecond : null) }),
    el('td', { text: limit(e.currentConcurrency, e.maxConcurrency) }),
    el('td', {
      text: (e.inFlight === null || e.inFlight === undefined ? '—' : fmt(e.inFlight)) + (e.inFlightTotal === null || e.inFlightTotal === undefined ? '' : ' · ' + fmt(e.inFlightTotal) + ' all instances'),
      title: 'calls in flight from this instance · from every instance on the store',
    }),
    el('td', { text: e.waiting.length === 0 ? '—' : e.waiting.join(', ') }),
    el('td', { text: fmt(e.throttled) + (e.cuts > 0 ? ' · ' + fmt(e.cuts) + ' cuts' : '') }))));
}

/** @type {Promise<void> | null} */
let refreshing = null;
/** @type {ReturnType<typeof setTimeout> | undefined} */
let timer;

/** Reads channels, breakers and readiness now (and again every 2 s). */
export function refresh() {
  if (refreshing) return refreshing;
  clearTimeout(timer);
  refreshing = (async () => {
    const [listed, breakers, ready, endpoints] = await Promise.allSettled([
      api('GET', '/v1/channels'),
      api('GET', '/v1/breakers'),
      fetch('/readyz', { cache: 'no-store' }).then((r) => r.json()),
      api('GET', '/v1/endpoints'),
    ]);
    if (endpoints.status === 'fulfilled') renderEndpoints(endpoints.value.items);
    const status = $('api-status');
    if (listed.status === 'fulfilled') {
      setText(status, 'API connected');
      setClass(status, 'pill ok');
      renderChannels(listed.value.items);
      renderSummary(listed.value.items, breakers.status === 'fulfilled' ? breakers.value.items : null);
      setText($('updated'), 'updated ' + clock(Date.now()));
      await Promise.all([...details.keys()].map(loadLanes));
      for (const listener of listeners) listener(listed.value.items);
    } else {
      const reason = listed.reason instanceof Error ? listed.reason : new Error(String(listed.reason));
      const code = 'status' in reason ? Number(reason.status) : 0;
      setText(status, code === 401 ? 'API key needed' : code ? 'API error' : 'API unreachable');
      setClass(status, 'pill bad');
      status.title = reason.message;
      if (rows.size === 0) $('channels-body').replaceChildren(el('tr', {}, el('td', { colSpan: COLUMNS.length, class: 'dim', text: reason.message })));
    }
    if (breakers.status === 'fulfilled') renderBreakers(breakers.value.items);
    const pill = $('ready-status');
    if (ready.status === 'fulfilled') {
      setText(pill, ready.value.status === 'ready' ? 'ready' : 'not ready (store ' + ready.value.store + ')');
      setClass(pill, 'pill ' + (ready.value.status === 'ready' ? 'ok' : 'bad'));
    } else {
      setText(pill, 'readiness unknown');
      setClass(pill, 'pill warn');
    }
  })().finally(() => {
    refreshing = null;
    timer = setTimeout(refresh, REFRESH_MS);
  });
  return refreshing;
}

export function setUpOverview() {
  $('channels-body').addEventListener('click', (e) => void onAction(e));
  void refresh();
}
