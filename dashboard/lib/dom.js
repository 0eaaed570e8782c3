// @ts-check
/** Small DOM and formatting helpers shared by the dashboard's views. */

/**
 * The element with this id; the page's markup guarantees it exists.
 * @template {HTMLElement} [T=HTMLElement]
 * @param {string} id
 * @returns {T}
 */
export function $(id) {
  const node = document.getElementById(id);
  if (!node) throw new Error('the page has no #' + id);
  return /** @type {T} */ (node);
}

/**
 * Creates an element: `class`, `text` and `data-*` are handled, any other prop is assigned.
 * Text always goes in as text, never as markup.
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Record<string, unknown>} [props]
 * @param {Array<Node | string | null | undefined | false>} children
 * @returns {HTMLElementTagNameMap[K]}
 */
export function el(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined) continue;
    if (k === 'class') node.className = String(v);
    else if (k === 'text') node.textContent = String(v);
    else if (k.startsWith('data-') || k.startsWith('aria-')) node.setAttribute(k, String(v));
    else /** @type {Record<string, unknown>} */ (/** @type {unknown} */ (node))[k] = v;
  }
  for (const child of children) if (child !== null && child !== undefined && child !== false) node.append(child);
  return node;
}

/** @param {Node} node @param {string} text */
export function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

/** @param {Element} node @param {string} cls */
export function setClass(node, cls) {
  if (node.className !== cls) node.className = cls;
}

const numbers = new Intl.NumberFormat();
/** @param {number | null | undefined} n */
export function fmt(n) {
  return n === null || n === undefined ? '—' : numbers.format(n);
}

/** @param {number | null | undefined} ms */
export function duration(ms) {
  if (ms === null || ms === undefined) return '—';
  const abs = Math.abs(ms);
  const s = Math.round(abs / 1000);
  if (abs < 1000) return Math.round(abs) + ' ms';
  if (s < 60) return s + ' s';
  if (s < 3600) return Math.floor(s / 60) + ' m ' + String(s % 60).padStart(2, '0') + ' s';
  if (s < 86400) return Math.floor(s / 3600) + ' h ' + String(Math.floor(s / 60) % 60).padStart(2, '0') + ' m';
  return Math.floor(s / 86400) + ' d ' + (Math.floor(s / 3600) % 24) + ' h';
}

/** @param {string | null | undefined} isoTime */
export function relative(isoTime) {
  if (!isoTime) return '—';
  const delta = Date.parse(isoTime) - Date.now();
  return delta >= 0 ? 'in ' + duration(delta) : duration(delta) + ' ago';
}

/** @param {number} ms */
export function clock(ms) {
  return new Date(ms).toLocaleTimeString([], { hour12: false });
}

/** @param {string | null | undefined} isoTime */
export function dateTime(isoTime) {
  if (!isoTime) return '—';
  const d = new Date(isoTime);
  return d.toLocaleDateString([], { month: 'short', day: 'numeric' }) + ' ' + d.toLocaleTimeString([], { hour12: false });
}

/** @param {string} text @param {string} [style] @param {string} [title] */
export function badge(text, style, title) {
  return el('span', { class: 'badge' + (style ? ' ' + style : ''), text, title: title || '' });
}

/** Badge style per message status. @type {Record<string, string>} */
export const STATUS_STYLE = {
  delivered: 'ok', queued: 'info', scheduled: 'info', delivering: 'info', retrying: 'warn',
  deadlettered: 'bad', parked: 'bad', stalled: 'bad', skipped: 'warn',
};

/** @param {string} status */
export function statusBadge(status) {
  return badge(status, STATUS_STYLE[status] || '');
}
