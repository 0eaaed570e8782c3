// @ts-check
import { $, el, fmt, relative, setText } from './lib/dom.js';
import { api, enc, notify, subscriptionPath } from './lib/api.js';
import { messageHref, onChannels, refresh } from './overview.js';

/**
 * Dead letters (queues) and skipped messages (fifo queues, subscriptions) of one channel, loaded
 * from the API page by page, filtered here by reason, status code, type and age; any selection
 * (or everything the filter matches) can be redriven, redelivered or purged in one request.
 * @typedef {{ id: string, key: string | null, type: string, attempts: number, lastError: string | null, updatedAt: string,
 *   history: Array<{ statusCode: number | null }> }} Kept
 */

const PAGE = 500;
const view = {
  channel: '',
  list: /** @type {'deadletters' | 'skipped'} */ ('deadletters'),
  /** @type {Kept[]} */ items: [],
  /** @type {string | null} */ next: null,
  /** @type {Set<string>} */ selected: new Set(),
};
/** @type {Map<string, string>} */
const kinds = new Map();

/** @param {string} id */
const field = (id) => /** @type {HTMLInputElement | HTMLSelectElement} */ ($(id));

function basePath() {
  const kind = kinds.get(view.channel);
  if (view.list === 'deadletters') return '/v1/queues/' + enc(view.channel) + '/deadletters';
  return (kind === 'subscription' ? subscriptionPath(view.channel) : '/v1/queues/' + enc(view.channel)) + '/skipped';
}

/** @param {Kept} item */
const lastStatus = (item) => item.history.length ? item.history[item.history.length - 1]?.statusCode ?? null : null;

function matching() {
  const reason = field('dl-reason').value.trim().toLowerCase();
  const code = field('dl-code').value.trim();
  const type = field('dl-type').value.trim();
  const olderThan = Number(field('dl-age').value) * 60_000;
  const now = Date.now();
  return view.items.filter((item) =>
    (!reason || (item.lastError ?? '').toLowerCase().includes(reason)) &&
    (!code || String(lastStatus(item) ?? 'none') === code) &&
    (!type || item.type === type) &&
    (!olderThan || now - Date.parse(item.updatedAt) >= olderThan));
}

/** @param {boolean} more */
async function load(more) {
  if (!view.channel) return;
  const body = $('dl-body');
  if (!more) {
    view.items = [];
    view.selected.clear();
    body.replaceChildren(el('tr', {}, el('td', { colSpan: 8, class: 'dim', text: 'Loading…' })));
  }
  try {
    const page = await api('GET', basePath() + '?limit=' + PAGE + (more && view.next ? '&cursor=' + enc(view.next) : ''));
    view.items.push(...page.items);
    view.next = page.next;
    render();
  } catch (error) {
    body.replaceChildren(el('tr', {}, el('td', { colSpan: 8, class: 'notice error', text: error instanceof Error ? error.message : String(error) })));
  }
}

function render() {
  const shown = matching();
  const visible = new Set(shown.map((i) => i.id));
  for (const id of view.selected) if (!visible.has(id)) view.selected.delete(id);
  const body = $('dl-body');
  if (shown.length === 0) {
    body.replaceChildren(el('tr', {}, el('td', { colSpan: 8, class: 'dim', text: view.items.length ? 'Nothing matches the filters.' : view.list === 'deadletters' ? 'No dead letters.' : 'Nothing is skipped.' })));
  } else {
    body.replaceChildren(...shown.map((item) => el('tr', { 'data-id': item.id },
      el('td', {}, el('input', { type: 'checkbox', checked: view.selected.has(item.id), 'data-select': item.id, 'aria-label': 'select ' + item.id })),
      el('td', { class: 'mono' }, el('a', { href: messageHref(item.id, view.channel), text: item.id })),
      el('td', { text: item.type }),
      el('td', { class: 'mono', text: item.key ?? '—' }),
      el('td', { class: 'num', text: fmt(item.attempts) }),
      el('td', { class: 'num', text: String(lastStatus(item) ?? '—') }),
      el('td', { class: 'wrap', text: item.lastError ?? '—' }),
      el('td', { text: relative(item.updatedAt), title: item.updatedAt }))));
  }
  const all = /** @type {HTMLInputElement} */ ($('dl-all'));
  all.checked = shown.length > 0 && shown.every((i) => view.selected.has(i.id));
  setText($('dl-count'), fmt(shown.length) + ' shown of ' + fmt(view.items.length) + ' loaded' + (view.next ? ' (more on the server)' : '') + ' · ' + fmt(view.selected.size) + ' selected');
  /** @type {HTMLButtonElement} */ ($('dl-more')).hidden = view.next === null;
  const n = view.selected.size;
  const primary = /** @type {HTMLButtonElement} */ ($('dl-redrive'));
  setText(primary, (view.list === 'deadletters' ? 'Redrive ' : 'Redeliver ') + fmt(n));
  primary.disabled = n === 0;
  const purge = /** @type {HTMLButtonElement} */ ($('dl-purge'));
  purge.hidden = view.list !== 'deadletters';
  setText(purge, 'Purge ' + fmt(n));
  purge.disabled = n === 0;
}

/** @param {'redrive' | 'purge'} action */
async function bulk(action) {
  const ids = [...view.selected];
  if (ids.length === 0) return;
  const what = view.list === 'deadletters' ? 'dead letter(s)' : 'skipped message(s)';
  const verb = action === 'purge' ? 'Delete for good' : view.list === 'deadletters' ? 'Redrive' : 'Redeliver';
  if (!confirm(verb + ' ' + fmt(ids.length) + ' ' + what + ' of ' + view.channel + '?')) return;
  try {
    const answer = action === 'purge' ? await api('DELETE', basePath(), { ids })
      : await api('POST', basePath() + (view.list === 'deadletters' ? '/redrive' : '/redeliver'), { ids });
    const count = answer.redriven ?? answer.redelivered ?? answer.purged ?? 0;
    notify(verb + ': ' + fmt(count) + ' of ' + fmt(ids.length) + ' ' + what + ' on ' + view.channel + '.', false);
  } catch (error) {
    notify(error instanceof Error ? error.message : String(error), true);
  }
  await load(false);
  void refresh();
}

export function setUpDeadLetters() {
  const select = /** @type {HTMLSelectElement} */ ($('dl-channel'));
  onChannels((channels) => {
    for (const c of channels) kinds.set(c.name, c.kind);
    const usable = channels.filter((c) => (view.list === 'deadletters' ? c.kind === 'queue' || c.kind === 'fifo' : c.kind === 'fifo' || c.kind === 'subscription'));
    const labels = usable.map((c) => c.name + ' (' + fmt(view.list === 'deadletters' ? c.deadLettered : c.skipped) + ')');
    if ([...select.options].map((o) => o.text).join('\n') === labels.join('\n')) return;
    select.replaceChildren(...usable.map((c, i) => el('option', { value: c.name, text: labels[i] })));
    if (usable.some((c) => c.name === view.channel)) select.value = view.channel;
    else if (usable[0]) {
      view.channel = usable[0].name;
      select.value = view.channel;
      void load(false);
    }
  });
  select.addEventListener('change', () => {
    view.channel = select.value;
    void load(false);
  });
  const list = /** @type {HTMLSelectElement} */ ($('dl-list'));
  list.addEventListener('change', () => {
    view.list = list.value === 'skipped' ? 'skipped' : 'deadletters';
    select.replaceChildren();
    view.channel = '';
    view.items = [];
    render();
    void refresh();
  });
  for (const id of ['dl-reason', 'dl-code', 'dl-type', 'dl-age']) $(id).addEventListener('input', render);
  $('dl-body').addEventListener('change', (e) => {
    const box = /** @type {HTMLInputElement} */ (e.target);
    const id = box.dataset.select;
    if (!id) return;
    if (box.checked) view.selected.add(id);
    else view.selected.delete(id);
    render();
  });
  $('dl-all').addEventListener('change', () => {
    const all = /** @type {HTMLInputElement} */ ($('dl-all'));
    for (const item of matching()) if (all.checked) view.selected.add(item.id); else view.selected.delete(item.id);
    render();
  });
  $('dl-reload').addEventListener('click', () => void load(false));
  $('dl-more').addEventListener('click', () => void load(true));
  $('dl-redrive').addEventListener('click', () => void bulk('redrive'));
  $('dl-purge').addEventListener('click', () => void bulk('purge'));
}

/** Shown with its tab: reload the list. @param {boolean} visible */
export function showDeadLetters(visible) {
  if (visible && view.channel) void load(false);
}
