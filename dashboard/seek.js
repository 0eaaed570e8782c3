// @ts-check
import { $, fmt, setText } from './lib/dom.js';
import { api, notify, subscriptionPath } from './lib/api.js';

/**
 * Seek on a subscription: move it back (replay delivered events) or forward (skip the
 * undelivered ones before the point, kept as skipped), to a sequence or to a time, after a
 * confirmation that says which. `POST …/subscriptions/{s}/seek`.
 */

/** @type {{ name: string, lastSequence: number | null, keptFrom: number | null, done: () => void }} */
const current = { name: '', lastSequence: null, keptFrom: null, done: () => {} };

/** @param {string} id */
const input = (id) => /** @type {HTMLInputElement} */ ($(id));
const dialog = () => /** @type {HTMLDialogElement} */ ($('seek-dialog'));
const byTime = () => input('seek-by-time').checked;

/**
 * Opens the seek form for a subscription; `done` runs after a seek (to refresh the view).
 * @param {{ name: string, lastSequence?: number | null, keptFrom?: number }} subscription
 * @param {() => void} done
 */
export function openSeek(subscription, done) {
  current.name = subscription.name;
  current.lastSequence = subscription.lastSequence ?? null;
  current.keptFrom = subscription.keptFrom ?? null;
  current.done = done;
  setText($('seek-title'), 'Seek ' + subscription.name);
  setText($('seek-help'), 'Its next event becomes the first event the topic still keeps at or after the point. Delivered and skipped events from there on are delivered again; '
    + 'undelivered events before it are skipped (kept, redeliverable).'
    + (current.lastSequence ? ' Last delivered: sequence ' + fmt(current.lastSequence) + '.' : '')
    + (current.keptFrom ? ' The topic keeps events from sequence ' + fmt(current.keptFrom) + ' on.' : ''));
  input('seek-sequence').value = String(current.keptFrom ?? 1);
  input('seek-time').value = '';
  input('seek-by-sequence').checked = true;
  setText($('seek-error'), '');
  dialog().showModal();
  input('seek-sequence').focus();
}

/** The request body, or a sentence saying what to fill in. @returns {{ sequence: number } | { time: string } | string} */
function point() {
  if (byTime()) {
    const value = input('seek-time').value;
    const at = value ? new Date(value) : null;
    return at && !Number.isNaN(at.getTime()) ? { time: at.toISOString() } : 'Give a date and time.';
  }
  const n = Number(input('seek-sequence').value);
  return Number.isInteger(n) && n >= 1 ? { sequence: n } : 'Give a sequence: a whole number, 1 or more.';
}

async function submit() {
  const body = point();
  if (typeof body === 'string') return setText($('seek-error'), body);
  const where = 'sequence' in body ? 'sequence ' + fmt(body.sequence) : 'the first event at or after ' + new Date(body.time).toLocaleString();
  const back = 'sequence' in body && current.lastSequence !== null && body.sequence <= current.lastSequence;
  if (!confirm('Seek ' + current.name + ' to ' + where + '? ' + (back ? 'Events it delivered or skipped from there on are delivered again.' : 'Delivered events after the point are delivered again; undelivered events before it are skipped.'))) return;
  const go = /** @type {HTMLButtonElement} */ ($('seek-go'));
  go.disabled = true;
  try {
    const answer = await api('POST', subscriptionPath(current.name) + '/seek', body);
    dialog().close();
    notify(current.name + ' now reads from sequence ' + fmt(answer.sequence) + ': ' + fmt(answer.replayed) + ' to deliver again, '
      + fmt(answer.skipped) + ' skipped' + (answer.fenced ? ', ' + fmt(answer.fenced) + ' in flight fenced' : '') + '.', false);
    current.done();
  } catch (error) {
    setText($('seek-error'), error instanceof Error ? error.message : String(error));
  } finally {
    go.disabled = false;
  }
}

export function setUpSeek() {
  $('seek-form').addEventListener('submit', (e) => {
    e.preventDefault();
    void submit();
  });
  $('seek-cancel').addEventListener('click', () => dialog().close());
  input('seek-sequence').addEventListener('focus', () => (input('seek-by-sequence').checked = true));
  input('seek-time').addEventListener('focus', () => (input('seek-by-time').checked = true));
}
