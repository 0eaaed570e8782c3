// @ts-check
import { $, el, setText } from './dom.js';

/** Everything the page does goes through the public v1 API, so an operator can script it too. */

const KEY_STORE = 'offload.apiKey';
export const session = { key: sessionStorage.getItem(KEY_STORE) || '' };

export class ApiError extends Error {
  /** @param {number} status @param {string} detail */
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

/**
 * Calls the API with the key (if any) as `Authorization: Bearer`. Problems (RFC 9457) become an
 * ApiError whose message is the problem's `detail`, which says what to fix.
 * @param {string} method
 * @param {string} path
 * @param {unknown} [body]
 * @returns {Promise<any>}
 */
export async function api(method, path, body) {
  /** @type {Record<string, string>} */
  const headers = { accept: 'application/json' };
  if (session.key) headers.authorization = 'Bearer ' + session.key;
  /** @type {RequestInit} */
  const init = { method, headers, cache: 'no-store' };
  if (body !== undefined) {
    headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (error) {
    throw new ApiError(0, 'Offload is not reachable: ' + (error instanceof Error ? error.message : String(error)));
  }
  const text = await res.text();
  /** @type {any} */
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (res.status === 401) askForKey(json && json.detail);
  if (!res.ok) throw new ApiError(res.status, (json && (json.detail || json.title)) || 'HTTP ' + res.status);
  return json;
}

export const enc = encodeURIComponent;

/** `topic/sub` → `/v1/topics/topic/subscriptions/sub`. @param {string} name */
export function subscriptionPath(name) {
  const at = name.indexOf('/');
  return '/v1/topics/' + enc(name.slice(0, at)) + '/subscriptions/' + enc(name.slice(at + 1));
}

/** @param {{ kind: string, name: string }} channel @param {string} action */
export function channelPath(channel, action) {
  if (channel.kind === 'topic') return '/v1/topics/' + enc(channel.name) + '/' + action;
  if (channel.kind === 'subscription') return subscriptionPath(channel.name) + '/' + action;
  return '/v1/queues/' + enc(channel.name) + '/' + action;
}

/** A short note in the corner; errors stay until dismissed. @param {string} text @param {boolean} [isError] */
export function notify(text, isError) {
  const box = $('notices');
  const notice = el('div', { class: 'notice' + (isError ? ' error' : ''), role: isError ? 'alert' : 'status' },
    el('span', { class: 'text', text }), el('button', { type: 'button', text: 'Dismiss', 'data-dismiss': '1' }));
  box.prepend(notice);
  while (box.children.length > 4) box.lastElementChild?.remove();
  if (!isError) setTimeout(() => notice.remove(), 6000);
}

/** @type {Array<() => void>} */
const keyListeners = [];
/** Runs `listener` whenever the API key changes. @param {() => void} listener */
export function onKeyChange(listener) {
  keyListeners.push(listener);
}

/** @param {string | undefined} detail */
function askForKey(detail) {
  const panel = $('key-panel');
  setText($('key-message'), session.key ? 'The API key was refused: ' + (detail || 'unauthorized') + '.' : 'This Offload asks for an API key.');
  if (panel.hidden) {
    panel.hidden = false;
    $('api-key').focus();
  }
}

/** @param {string} key */
function useKey(key) {
  session.key = key;
  if (key) sessionStorage.setItem(KEY_STORE, key);
  else sessionStorage.removeItem(KEY_STORE);
  /** @type {HTMLInputElement} */ ($('api-key')).value = '';
  $('key-panel').hidden = true;
  setText($('key-button'), key ? 'API key ✓' : 'API key');
  for (const listener of keyListeners) listener();
}

/** Wires the key panel and the notices. */
export function setUpSession() {
  $('notices').addEventListener('click', (e) => {
    const target = /** @type {HTMLElement} */ (e.target);
    if (target.dataset.dismiss) target.closest('.notice')?.remove();
  });
  $('key-button').addEventListener('click', () => {
    const panel = $('key-panel');
    panel.hidden = !panel.hidden;
    if (!panel.hidden) {
      setText($('key-message'), session.key ? 'An API key is in use.' : 'No API key is in use.');
      $('api-key').focus();
    }
  });
  const input = /** @type {HTMLInputElement} */ ($('api-key'));
  $('key-save').addEventListener('click', () => useKey(input.value.trim()));
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') useKey(input.value.trim());
  });
  $('key-forget').addEventListener('click', () => useKey(''));
  setText($('key-button'), session.key ? 'API key ✓' : 'API key');
}

/**
 * The URL of the event stream. `EventSource` cannot send a header, and an API key never goes in
 * a URL: with a key, the page trades it for a token valid for a minute, accepted only there.
 * @returns {Promise<string>}
 */
export async function eventStreamUrl() {
  if (!session.key) return '/v1/events';
  const { token } = await api('POST', '/v1/events/token');
  return '/v1/events?token=' + enc(token);
}
