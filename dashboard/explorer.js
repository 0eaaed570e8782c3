// @ts-check
import { $, badge, dateTime, duration, el, fmt, relative, setText, statusBadge } from './lib/dom.js';
import { api, enc, notify, subscriptionPath } from './lib/api.js';
import { lanePath, messageHref, onChannels } from './overview.js';

/**
 * The message explorer: a search over `GET /v1/messages` (filtered and paged by the server) and a
 * page per message from `GET /v1/messages/{id}` with its payload, metadata, every delivery and
 * attempt, and the actions that apply to each delivery.
 * @typedef {{ attempt: number, startedAt: string, durationMs: number, statusCode: number | null, error: string | null, response: string | null }} Attempt
 * @typedef {{ target: string, status: string, attempts: number, lane?: string | null, nextAttemptAt: string | null, lastError: string | null,
 *   result?: string | null, updatedAt: string, history?: Attempt[] }} Delivery
 * @typedef {{ id: string, channel: string, key: string | null, type: string, status: string, createdAt: string, deliverAt: string | null,
 *   sequence: number | null, metadata: Record<string, unknown>, data?: unknown, deliveries: Delivery[] }} Message
 */

const FIELDS = ['id', 'channel', 'status', 'type', 'key', 'since', 'until'];
/** @type {Map<string, string>} channel name → kind */
const kinds = new Map();
/** @type {string | null} */
let nextCursor = null;
/** @type {URLSearchParams | null} */
let lastQuery = null;

/** @param {string} id */
const input = (id) => /** @type {HTMLInputElement | HTMLSelectElement} */ ($('search-' + id));

/** The form as API parameters; local date-times become ISO instants. */
function query() {
  const params = new URLSearchParams();
  for (const name of FIELDS.slice(1)) {
    const value = input(name).value.trim();
    if (!value) continue;
    params.set(name, name === 'since' || name === 'until' ? new Date(value).toISOString() : value);
  }
  return params;
}

/** @param {boolean} more */
async function search(more) {
  const id = input('id').value.trim();
  if (id && !more) {
    location.hash = messageHref(id, input('channel').value || undefined);
    return;
  }
  const params = more && lastQuery ? new URLSearchParams(lastQuery) : query();
  lastQuery = new URLSearchParams(params);
  params.set('limit', '50');
  if (more && nextCursor) params.set('cursor', nextCursor);
  const body = $('results-body');
  if (!more) body.replaceChildren(el('tr', {}, el('td', { colSpan: 7, class: 'dim', text: 'Searching…' })));
  try {
    /** @type {{ items: Message[], next: string | null }} */
    const page = await api('GET', '/v1/messages?' + params.toString());
    nextCursor = page.next;
    const rows = page.items.map(resultRow);
    if (!more) body.replaceChildren(...rows);
    else body.append(...rows);
    if (!more && rows.length === 0) {
      // A page looks at a bounded window of messages: none found yet is not none at all while `next` is set.
      const text = page.next ? 'Nothing found among the newest messages; Older messages searches further back.' : 'No message matches. Delivered messages are kept for delivery.retention.';
      body.replaceChildren(el('tr', {}, el('td', { colSpan: 7, class: 'dim', text })));
    }
    /** @type {HTMLButtonElement} */ ($('search-more')).hidden = page.next === null;
    setText($('search-count'), fmt(body.querySelectorAll('tr[data-id]').length) + (page.next ? '+' : '') + ' shown, newest first');
  } catch (error) {
    body.replaceChildren(el('tr', {}, el('td', { colSpan: 7, class: 'notice error', text: error instanceof Error ? error.message : String(error) })));
  }
}

/** @param {Message} m */
function resultRow(m) {
  return el('tr', { 'data-id': m.id },
    el('td', { text: dateTime(m.createdAt), title: m.createdAt }),
    el('td', { class: 'mono' }, el('a', { href: messageHref(m.id, m.channel), text: m.id })),
    el('td', { text: m.channel }),
    el('td', { class: 'mono', text: m.key ?? '—' }),
    el('td', { text: m.type }),
    el('td', {}, statusBadge(m.status)),
    el('td', { class: 'small' }, ...m.deliveries.flatMap((d, i) => [i > 0 ? ' ' : '', el('span', { class: 'dim', text: d.target + ' ' }), d.status + (d.attempts > 0 ? ' ×' + d.attempts : '')])));
}

/** Opens a message's page. @param {string} id @param {string | null} channel */
export async function showMessage(id, channel) {
  const panel = $('message');
  panel.hidden = false;
  $('search-panel').hidden = true;
  panel.replaceChildren(el('div', { class: 'empty', text: 'Loading ' + id + '…' }));
  try {
    /** @type {Message} */
    const m = await api('GET', '/v1/messages/' + enc(id) + (channel ? '?channel=' + enc(channel) : ''));
    panel.replaceChildren(messagePage(m));
  } catch (error) {
    panel.replaceChildren(el('div', { class: 'toolbar' }, el('a', { href: '#messages', text: '← Search' })), el('div', { class: 'notice error', text: error instanceof Error ? error.message : String(error) }));
  }
}

/** Back to the search form and its results. */
export function showSearch() {
  $('message').hidden = true;
  $('search-panel').hidden = false;
}

/** @param {Message} m */
function messagePage(m) {
  const facts = /** @type {Array<[string, string | Node]>} */ ([
    ['Channel', m.channel], ['Key', m.key ?? '—'], ['Type', m.type], ['Status', statusBadge(m.status)],
    ['Created', dateTime(m.createdAt) + ' (' + relative(m.createdAt) + ')'], ['Deliver at', m.deliverAt ? dateTime(m.deliverAt) : '—'],
    ['Sequence', m.sequence === null ? '—' : fmt(m.sequence)],
  ]);
  return el('div', { class: 'message-page', 'data-message': m.id },
    el('div', { class: 'toolbar' }, el('a', { href: '#messages', text: '← Search' }), el('h3', { class: 'mono', text: m.id }), el('button', { type: 'button', text: 'Reload', 'data-reload': m.id, 'data-channel': m.channel })),
    el('dl', { class: 'facts' }, ...facts.flatMap(([k, v]) => [el('dt', { text: k }), el('dd', {}, v)])),
    el('div', { class: 'two' },
      el('div', {}, el('h4', { text: 'Payload (data)' }), el('pre', { class: 'json', text: JSON.stringify(m.data, null, 2) })),
      el('div', {}, el('h4', { text: 'Metadata' }), el('pre', { class: 'json', text: JSON.stringify(m.metadata, null, 2) }))),
    el('h4', { text: 'Deliveries' }),
    ...m.deliveries.map((d) => deliverySection(m, d)));
}

/** @param {Message} m @param {Delivery} d */
function deliverySection(m, d) {
  const history = d.history ?? [];
  return el('section', { class: 'delivery', 'data-target': d.target },
    el('h2', {}, el('span', { text: d.target }), statusBadge(d.status), el('span', { class: 'note', text: fmt(d.attempts) + ' attempt(s)' + (d.nextAttemptAt ? ' · next ' + relative(d.nextAttemptAt) : '') + ' · updated ' + relative(d.updatedAt) }),
      el('span', { class: 'spacer' }), ...actionsFor(m, d)),
    d.lastError ? el('div', { class: 'reason', text: 'Last error: ' + d.lastError }) : null,
    d.result ? el('div', { class: 'reason ok', text: 'Result: ' + d.result }) : null,
    el('div', { class: 'scroll' }, history.length === 0 ? el('div', { class: 'empty', text: 'No attempt yet.' }) : el('table', { class: 'attempts' },
      el('thead', {}, el('tr', {}, ...['#', 'Started', 'Duration', 'Status', 'Error', 'Response'].map((t) => el('th', { text: t, class: t === '#' || t === 'Duration' ? 'num' : '' })))),
      el('tbody', {}, ...history.map((a) => el('tr', {},
        el('td', { class: 'num', text: String(a.attempt) }),
        el('td', { text: dateTime(a.startedAt), title: a.startedAt }),
        el('td', { class: 'num', text: duration(a.durationMs) }),
        el('td', {}, a.statusCode === null ? '—' : badge(String(a.statusCode), a.statusCode < 300 ? 'ok' : a.statusCode < 500 && a.statusCode !== 429 ? 'bad' : 'warn')),
        el('td', { class: 'wrap', text: a.error ?? '—' }),
        el('td', { class: 'wrap mono small', text: a.response ?? '—' })))))));
}

/** The operator actions that apply to this delivery now. @param {Message} m @param {Delivery} d */
function actionsFor(m, d) {
  const kind = kinds.get(d.target) ?? (d.target.includes('/') ? 'subscription' : 'queue');
  const queue = '/v1/queues/' + enc(d.target);
  const lane = d.lane ?? m.key ?? '';
  /** @param {string} text @param {string} method @param {string} path @param {unknown} body @param {string} confirmText @param {string} [cls] */
  const button = (text, method, path, body, confirmText, cls) =>
    el('button', { type: 'button', class: cls || '', text, 'data-act': method + ' ' + path, 'data-body': body === undefined ? '' : JSON.stringify(body), 'data-confirm': confirmText, 'data-id': m.id, 'data-channel': m.channel });
  if (d.status === 'deadlettered') {
    return [
      button('Redrive', 'POST', queue + '/deadletters/redrive', { ids: [m.id] }, ''),
      button('Purge', 'DELETE', queue + '/deadletters', { ids: [m.id] }, 'Delete dead letter ' + m.id + ' of ' + d.target + ' for good?', 'danger'),
    ];
  }
  if (d.status === 'parked' || d.status === 'stalled') {
    const channel = { kind, name: d.target };
    return [
      button('Retry lane now', 'POST', lanePath(channel, lane, 'retry'), undefined, ''),
      button('Skip', 'POST', lanePath(channel, lane, 'skip'), undefined, 'Skip ' + m.id + ' on ' + d.target + '? It is kept and can be redelivered; the messages behind it go on.', 'danger'),
    ];
  }
  if (d.status === 'skipped') {
    const base = kind === 'subscription' ? subscriptionPath(d.target) : queue;
    return [button('Redeliver', 'POST', base + '/skipped/redeliver', { ids: [m.id] }, '')];
  }
  return [];
}

/** @param {MouseEvent} e */
async function onMessageClick(e) {
  const target = /** @type {HTMLElement} */ (e.target);
  const reload = target.closest('button[data-reload]');
  if (reload instanceof HTMLButtonElement) return showMessage(reload.dataset.reload ?? '', reload.dataset.channel ?? null);
  const button = target.closest('button[data-act]');
  if (!(button instanceof HTMLButtonElement)) return;
  const [method, path] = (button.dataset.act ?? '').split(' ');
  if (!method || !path) return;
  if (button.dataset.confirm && !confirm(button.dataset.confirm)) return;
  button.disabled = true;
  try {
    const answer = await api(method, path, button.dataset.body ? JSON.parse(button.dataset.body) : undefined);
    notify(button.textContent + ': done' + (answer && typeof answer === 'object' ? ' (' + Object.entries(answer).filter(([, v]) => typeof v !== 'object').map(([k, v]) => k + ' ' + v).join(', ') + ')' : '') + '.', false);
  } catch (error) {
    notify(error instanceof Error ? error.message : String(error), true);
  } finally {
    await showMessage(button.dataset.id ?? '', button.dataset.channel ?? null);
  }
}

export function setUpExplorer() {
  const form = /** @type {HTMLFormElement} */ ($('search-form'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    void search(false);
  });
  $('search-more').addEventListener('click', () => void search(true));
  $('search-clear').addEventListener('click', () => {
    form.reset();
    $('results-body').replaceChildren();
    setText($('search-count'), '');
  });
  $('message').addEventListener('click', (e) => void onMessageClick(e));
  const select = /** @type {HTMLSelectElement} */ ($('search-channel'));
  onChannels((channels) => {
    for (const c of channels) kinds.set(c.name, c.kind);
    const names = channels.filter((c) => !c.name.startsWith('_')).map((c) => c.name);
    if ([...select.options].slice(1).map((o) => o.value).join('\n') === names.join('\n')) return;
    const chosen = select.value;
    select.replaceChildren(el('option', { value: '', text: 'any channel' }), ...names.map((n) => el('option', { value: n, text: n })));
    select.value = names.includes(chosen) ? chosen : '';
  });
}
