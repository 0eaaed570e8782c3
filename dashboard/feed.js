// @ts-check
import { $, badge, clock, el, fmt, setClass, setText } from './lib/dom.js';
import { ApiError, eventStreamUrl } from './lib/api.js';

/**
 * The live feed of `GET /v1/events` through the browser's own EventSource. Thousands of events a
 * second must not cost thousands of DOM updates: routine events are only counted (their JSON is not
 * even parsed), notable ones are kept, and both are drawn once a second.
 */

const FEED_ROWS = 100;
const NOTABLE_PER_SECOND = 20;
const EVENT_TYPES = ['accepted', 'delivered', 'deferred', 'retrying', 'deadlettered', 'parked', 'stalled', 'fenced', 'breaker', 'endpoint-limit', 'throttled', 'seek'];
/** @type {Record<string, string>} */
const TYPE_STYLE = { delivered: 'ok', accepted: 'info', deferred: 'info', seek: 'info', retrying: 'warn', fenced: 'warn', throttled: 'warn', deadlettered: 'bad', parked: 'bad', stalled: 'bad', breaker: 'bad' };

/**
 * @typedef {{ at?: number, ids?: string[], lane?: string | null, reason?: string, target?: string, attempt?: number,
 *   origin?: string, from?: string, to?: string, newlyBlocked?: boolean, channel?: string, refused?: number,
 *   sequence?: number, replayed?: number, skipped?: number, fenced?: number }} LiveEvent
 */
const feed = {
  /** @type {Record<string, number>} */ counts: {},
  /** @type {Array<{ type: string, event: LiveEvent }>} */ notable: [],
  /** @type {Record<string, number>} */ dropped: {},
  /** @type {EventSource | null} */ source: null,
  live: false,
  paused: false,
  /** Bumped on every (re)connection, so a late callback of an old one does nothing. */
  generation: 0,
};

/** @param {string} type @param {LiveEvent} [event] */
function isNotable(type, event) {
  // Throttled comes at most every 5 s per channel; a seek is an operator's action.
  if (type === 'deadlettered' || type === 'breaker' || type === 'throttled' || type === 'seek') return true;
  return (type === 'parked' || type === 'stalled') && (!event || event.newlyBlocked !== false);
}

/** @param {string} type @param {string} data */
function onEvent(type, data) {
  if (type !== 'parked' && type !== 'stalled' && !isNotable(type)) {
    feed.counts[type] = (feed.counts[type] || 0) + 1;
    return;
  }
  /** @type {LiveEvent} */
  let event;
  try {
    event = JSON.parse(data);
  } catch {
    return;
  }
  feed.counts[type] = (feed.counts[type] || 0) + 1;
  if (!isNotable(type, event)) return;
  if (feed.notable.length < NOTABLE_PER_SECOND) feed.notable.push({ type, event });
  else feed.dropped[type] = (feed.dropped[type] || 0) + 1;
}

/** @param {string} type @param {LiveEvent} e */
function describe(type, e) {
  const ids = e.ids && e.ids.length ? (e.ids.length === 1 ? e.ids[0] : e.ids[0] + ' +' + (e.ids.length - 1)) : '';
  const lane = e.lane ? " key '" + e.lane + "'" : '';
  const why = e.reason ? ': ' + e.reason : '';
  if (type === 'breaker') return 'circuit ' + e.origin + ' ' + e.from + ' → ' + e.to + why;
  if (type === 'throttled') return e.channel + ' pushes producers back (' + e.refused + ' refused)' + why;
  if (type === 'seek') return e.target + ' moved to sequence ' + e.sequence + ': ' + e.replayed + ' to deliver again, ' + e.skipped + ' skipped, ' + e.fenced + ' fenced';
  if (type === 'deadlettered') return e.target + ' · ' + ids + ' dead-lettered ' + (e.attempt ? 'after attempt ' + e.attempt : 'without an attempt') + why;
  if (type === 'parked') return e.target + lane + ' parked at ' + ids + ' after attempt ' + e.attempt + why;
  if (type === 'stalled') return e.target + lane + ' stalled at ' + ids + ' after attempt ' + e.attempt + why;
  return e.target + ' · ' + ids;
}

/** @param {number} at @param {string} type @param {string} text @param {string} [cls] */
function feedRow(at, type, text, cls) {
  return el('li', { class: cls || '' }, el('span', { class: 'dim mono', text: clock(at) }), el('span', {}, badge(type, TYPE_STYLE[type] || '')), el('span', { class: 'what', text, title: text }));
}

function flush() {
  const now = Date.now();
  const { counts, notable, dropped } = feed;
  feed.counts = {};
  feed.notable = [];
  feed.dropped = {};
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  const rates = $('rates');
  const types = Object.keys(counts).sort((a, b) => (counts[b] ?? 0) - (counts[a] ?? 0));
  if (types.length) rates.replaceChildren(...types.map((t) => badge(fmt(counts[t]) + ' ' + t + '/s', TYPE_STYLE[t] || '')));
  else rates.replaceChildren(el('span', { class: 'dim small', text: feed.live ? 'Quiet: no events in the last second.' : 'Not connected to the event stream.' }));
  if (feed.paused || (total === 0 && notable.length === 0)) return;
  const list = $('events');
  const lines = notable.map((n) => feedRow(n.event.at || now, n.type, describe(n.type, n.event)));
  for (const [t, n] of Object.entries(dropped)) lines.push(feedRow(now, t, '+' + fmt(n) + ' more ' + t + ' this second (not listed one by one)', 'summary'));
  /** @type {Record<string, number>} */
  const listed = {};
  for (const n of notable) listed[n.type] = (listed[n.type] || 0) + 1;
  const rest = types.map((t) => /** @type {[string, number]} */ ([t, (counts[t] ?? 0) - (listed[t] || 0) - (dropped[t] || 0)])).filter(([, n]) => n > 0);
  if (rest.length) lines.push(feedRow(now, 'summary', rest.map(([t, n]) => fmt(n) + ' ' + t).join(' · ') + ' in the last second', 'summary'));
  const placeholder = list.querySelector('.placeholder');
  if (placeholder && lines.length) placeholder.remove();
  list.prepend(...lines.reverse());
  while (list.children.length > FEED_ROWS) list.lastElementChild?.remove();
}

/** @param {string} text @param {string} level */
function status(text, level) {
  feed.live = level === 'ok';
  const pill = $('feed-status');
  setText(pill, text);
  setClass(pill, 'pill' + (level ? ' ' + level : ''));
}

/** (Re)connects the stream; with an API key, through a fresh one-minute token. */
export async function connectFeed() {
  const generation = ++feed.generation;
  feed.source?.close();
  feed.source = null;
  status('connecting', 'warn');
  let url;
  try {
    url = await eventStreamUrl();
  } catch (error) {
    if (generation !== feed.generation) return;
    status('no stream: ' + (error instanceof ApiError ? error.message : String(error)) + '; retrying in 5 s', 'bad');
    setTimeout(() => { if (generation === feed.generation) void connectFeed(); }, 5000);
    return;
  }
  if (generation !== feed.generation) return;
  const source = new EventSource(url);
  feed.source = source;
  source.onopen = () => status('live', 'ok');
  source.onerror = () => {
    if (source.readyState !== EventSource.CLOSED) return status('reconnecting…', 'bad');
    // A refused stream (an expired token, 503 while Offload restarts) is not retried by EventSource itself.
    status('disconnected; reconnecting in 5 s', 'bad');
    setTimeout(() => { if (feed.source === source) void connectFeed(); }, 5000);
  };
  for (const type of EVENT_TYPES) source.addEventListener(type, (m) => onEvent(type, /** @type {MessageEvent<string>} */ (m).data));
}

export function setUpFeed() {
  setInterval(flush, 1000);
  $('feed-pause').addEventListener('click', () => {
    feed.paused = !feed.paused;
    setText($('feed-pause'), feed.paused ? 'Resume' : 'Pause');
  });
  $('feed-clear').addEventListener('click', () => $('events').replaceChildren());
  void connectFeed();
}
