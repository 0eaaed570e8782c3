// @ts-check
import uPlot from './vendor/uPlot.esm.js';
import { $, el, fmt, setText } from './lib/dom.js';
import { api, enc } from './lib/api.js';
import { onChannels } from './overview.js';

/**
 * Charts of one channel or of everything over 15 minutes or an hour, from `GET /v1/rates`
 * (rates kept in memory by the Offload that serves the page). Drawn with uPlot, vendored next to
 * this file, so nothing is loaded from elsewhere.
 * @typedef {{ window: string, stepSeconds: number, t: number[], deliveredPerSec: number[], failedPerSec: number[],
 *   latencyP50Ms: Array<number | null>, latencyP99Ms: Array<number | null>, depth: Array<number | null>,
 *   inFlight: Array<number | null>, oldestAgeMs: Array<number | null>, breaker: Array<number | null> }} Series
 */

/** Reads a CSS colour so the charts follow the light or dark theme. @param {string} name */
const color = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim() || '#888';

/** @type {Record<string, uPlot>} */
const plots = {};
const view = { channel: '', window: '15m', visible: false, loading: false };
/** @type {ReturnType<typeof setTimeout> | undefined} */
let timer;

/**
 * @param {string} id
 * @param {string} unit
 * @param {Array<{ label: string, color: string, scale?: string, dash?: number[] }>} series
 * @param {Record<string, uPlot.Scale>} [scales]
 * @param {uPlot.Axis[]} [extraAxes]
 */
function makePlot(id, unit, series, scales = {}, extraAxes = []) {
  const host = $(id);
  const axis = { stroke: color('--muted'), grid: { stroke: color('--line'), width: 1 }, ticks: { stroke: color('--line'), width: 1 } };
  /** @type {uPlot.Options} */
  const options = {
    width: Math.max(280, host.clientWidth),
    height: 180,
    scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] }, ...scales },
    axes: [axis, { ...axis, label: unit, size: 56 }, ...extraAxes],
    legend: { live: true },
    cursor: { drag: { x: false, y: false } },
    series: [{}, ...series.map((s) => ({ label: s.label, stroke: s.color, width: 1.5, scale: s.scale || 'y', dash: s.dash, spanGaps: false, points: { show: false } }))],
  };
  const plot = new uPlot(options, [[], ...series.map(() => [])], host);
  plots[id] = plot;
  new ResizeObserver(() => {
    const width = Math.max(280, host.clientWidth);
    if (width !== plot.width) plot.setSize({ width, height: 180 });
  }).observe(host);
  return plot;
}

function createPlots() {
  makePlot('chart-throughput', 'per second', [
    { label: 'delivered/s', color: color('--ok') },
    { label: 'failed/s', color: color('--bad') },
  ]);
  makePlot('chart-latency', 'ms', [
    { label: 'p50 latency', color: color('--accent') },
    { label: 'p99 latency', color: color('--warn') },
  ]);
  makePlot('chart-depth', 'messages', [
    { label: 'depth / lag', color: color('--accent') },
    { label: 'in flight', color: color('--ok') },
    { label: 'breaker open', color: color('--bad'), scale: 'breaker', dash: [4, 3] },
  ], { breaker: { range: [0, 1] } }, [{ scale: 'breaker', side: 1, show: false }]);
}

async function load() {
  if (!view.visible || view.loading) return;
  view.loading = true;
  clearTimeout(timer);
  try {
    /** @type {Series} */
    const s = await api('GET', '/v1/rates?window=' + view.window + (view.channel ? '&channel=' + enc(view.channel) : ''));
    plots['chart-throughput']?.setData([s.t, s.deliveredPerSec, s.failedPerSec]);
    plots['chart-latency']?.setData([s.t, s.latencyP50Ms, s.latencyP99Ms]);
    plots['chart-depth']?.setData([s.t, s.depth, s.inFlight, s.breaker]);
    const delivered = s.deliveredPerSec.reduce((n, r) => n + r * s.stepSeconds, 0);
    const failed = s.failedPerSec.reduce((n, r) => n + r * s.stepSeconds, 0);
    const summary = $('charts-summary');
    summary.dataset.delivered = String(Math.round(delivered));
    setText(summary, (view.channel || 'All channels') + ' · last ' + (view.window === '1h' ? 'hour' : '15 minutes') + ': ' + fmt(Math.round(delivered)) + ' delivered, ' + fmt(Math.round(failed)) + ' failed (this instance) · step ' + s.stepSeconds + ' s');
  } catch (error) {
    setText($('charts-summary'), error instanceof Error ? error.message : String(error));
  } finally {
    view.loading = false;
    timer = setTimeout(() => void load(), view.window === '1h' ? 20_000 : 5_000);
  }
}

/** Shown or hidden with its tab; charts are only fetched while visible. @param {boolean} visible */
export function showCharts(visible) {
  view.visible = visible;
  if (!visible) return clearTimeout(timer);
  if (!plots['chart-throughput']) createPlots();
  void load();
}

export function setUpCharts() {
  const select = /** @type {HTMLSelectElement} */ ($('charts-channel'));
  onChannels((channels) => {
    const names = channels.filter((c) => !c.name.startsWith('_')).map((c) => c.name);
    const have = [...select.options].map((o) => o.value).slice(1);
    if (have.join('\n') === names.join('\n')) return;
    select.replaceChildren(el('option', { value: '', text: 'All channels' }), ...names.map((n) => el('option', { value: n, text: n })));
    select.value = names.includes(view.channel) ? view.channel : '';
  });
  select.addEventListener('change', () => {
    view.channel = select.value;
    void load();
  });
  for (const button of document.querySelectorAll('#charts-window button')) {
    button.addEventListener('click', () => {
      view.window = /** @type {HTMLButtonElement} */ (button).value;
      for (const b of document.querySelectorAll('#charts-window button')) b.classList.toggle('primary', b === button);
      void load();
    });
  }
}
