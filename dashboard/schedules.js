// @ts-check
import { $, badge, dateTime, el, relative, setText } from './lib/dom.js';
import { api, enc, notify } from './lib/api.js';

/**
 * Recurring schedules (`GET /v1/schedules`): what each sends where, when it runs next and last
 * ran, paused or not, with pause and resume (shared by every instance).
 * @typedef {{ name: string, cron: string, timezone: string, queue?: string, topic?: string, type: string, key: string | null,
 *   catchUp: string, paused: boolean, lastRunAt: string | null, nextRunAt: string | null }} Schedule
 */

const REFRESH_MS = 5000;
/** @type {ReturnType<typeof setTimeout> | undefined} */
let timer;
let visible = false;

/** @param {Schedule} s */
function row(s) {
  return el('tr', { 'data-schedule': s.name, class: s.paused ? 'caution' : '' },
    el('td', {}, el('b', { text: s.name })),
    el('td', { class: 'mono', text: s.cron }),
    el('td', { text: s.timezone }),
    el('td', { text: (s.queue ? 'queue ' + s.queue : 'topic ' + s.topic) + ' · ' + s.type + (s.key ? ' · key ' + s.key : '') }),
    el('td', { text: s.nextRunAt ? dateTime(s.nextRunAt) + ' (' + relative(s.nextRunAt) + ')' : '—', title: s.nextRunAt || 'paused: no next run' }),
    el('td', { text: s.lastRunAt ? dateTime(s.lastRunAt) + ' (' + relative(s.lastRunAt) + ')' : 'never', title: s.lastRunAt || '' }),
    el('td', {}, s.paused ? badge('paused', 'warn') : badge('active', 'ok')),
    el('td', {}, el('div', { class: 'actions' },
      el('button', { type: 'button', class: s.paused ? 'primary' : '', text: s.paused ? 'Resume' : 'Pause', 'data-action': s.paused ? 'resume' : 'pause', 'data-name': s.name }))));
}

/** Reads the schedules now (and again every 5 s while the view is shown). */
async function load() {
  clearTimeout(timer);
  const body = $('schedules-body');
  try {
    const { items } = /** @type {{ items: Schedule[] }} */ (await api('GET', '/v1/schedules'));
    setText($('schedules-count'), items.length === 1 ? '1 schedule' : items.length + ' schedules');
    body.replaceChildren(...(items.length > 0 ? items.map(row) : [el('tr', {}, el('td', { colSpan: 8, class: 'dim', text: 'No schedules are configured (schedules.<name> in the configuration).' }))]));
  } catch (error) {
    body.replaceChildren(el('tr', {}, el('td', { colSpan: 8, class: 'dim', text: error instanceof Error ? error.message : String(error) })));
  }
  if (visible) timer = setTimeout(() => void load(), REFRESH_MS);
}

/** @param {MouseEvent} e */
async function onAction(e) {
  const button = /** @type {HTMLElement} */ (e.target).closest('button[data-action]');
  if (!(button instanceof HTMLButtonElement)) return;
  const { action, name } = button.dataset;
  if ((action !== 'pause' && action !== 'resume') || !name) return;
  if (action === 'pause' && !confirm('Pause schedule ' + name + ' on every instance? No message is sent until it is resumed; ticks that pass meanwhile are not sent.')) return;
  button.disabled = true;
  try {
    const s = /** @type {Schedule} */ (await api('POST', '/v1/schedules/' + enc(name) + '/' + action));
    notify(action === 'pause' ? 'Paused schedule ' + name + '.' : 'Resumed schedule ' + name + (s.nextRunAt ? '; next run ' + dateTime(s.nextRunAt) : '') + '.', false);
  } catch (error) {
    notify(name + ': ' + (error instanceof Error ? error.message : String(error)), true);
  } finally {
    button.disabled = false;
    void load();
  }
}

/** Shows or hides the view; shown, it reads the schedules at once. @param {boolean} show */
export function showSchedules(show) {
  visible = show;
  if (show) void load();
  else clearTimeout(timer);
}

export function setUpSchedules() {
  $('schedules-body').addEventListener('click', (e) => void onAction(e));
  $('schedules-reload').addEventListener('click', () => void load());
}
