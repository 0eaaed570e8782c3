import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { createFaultSwitch, firstAttempts, firstOf } from '../../src/testing/index.js';
import { chromiumAvailable, launchChromium, screenshot } from '../support/browser.js';
import { get, startOffload, testReceiver, type TestOffload } from '../support/offload.js';

const KEY = 'operator-key-for-the-browser-test';
// CI installs Chromium (.ci/run); a developer machine without it skips these tests.
const describeBrowser = chromiumAvailable || process.env.CI ? describe : describe.skip;

describeBrowser('dashboard in a real browser', () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
  });

  /** A real Offload under steady traffic, a receiver with switchable faults, and a page at 1280 (or the given) px. */
  async function setUp(width = 1280) {
    const dead = createFaultSwitch({ kind: 'status', status: 400, body: 'invalid recipient' }, { ids: ['dead-1'] });
    const parked = createFaultSwitch({ kind: 'status', status: 422, body: 'tenant quota exceeded' }, { keys: ['tenant-bad'] });
    const receiver = await testReceiver({ decide: firstOf(dead.decide, parked.decide, firstAttempts(1, { kind: 'status', status: 503 }, { ids: ['order-42'] })) });
    const offload = await startOffload({
      server: { apiKeys: [{ key: KEY, role: 'operator' }] },
      endpoints: { sink: { url: receiver.url } },
      queues: {
        audits: { endpoint: 'sink', path: '/audits', minBackoff: '10ms', maxBackoff: '50ms' },
        provisionings: { preset: 'aggregate-fifo', endpoint: 'sink', path: '/p', minBackoff: '10ms', maxBackoff: '50ms' },
      },
    });
    let n = 0;
    const traffic = setInterval(() => void send(offload, 'audits', { id: `t-${n++}`, type: 'audit.recorded', data: { n } }).catch(() => undefined), 100);
    onTestFinished(() => clearInterval(traffic));
    const context = await browser.newContext({ viewport: { width, height: 900 } });
    onTestFinished(() => context.close());
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('console', (m) => { if (m.type() === 'error') problems.push(m.text()); });
    page.on('pageerror', (e) => problems.push(e.message));
    await page.addInitScript(`sessionStorage.setItem('offload.apiKey', ${JSON.stringify(KEY)})`);
    return { receiver, offload, page, dead, parked, problems };
  }

  async function send(offload: TestOffload, queue: string, body: unknown) {
    const res = await fetch(`${offload.url}/v1/queues/${queue}/messages`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` }, body: JSON.stringify(body) });
    expect(res.status).toBe(202);
  }
  const statusOf = async (offload: TestOffload, id: string) => {
    const res = await fetch(`${offload.url}/v1/messages/${id}`, { headers: { authorization: `Bearer ${KEY}` } });
    return ((await res.json()) as { status: string }).status;
  };

  it('shows every channel live, with the event stream opened through a short-lived token', async () => {
    const { offload, page, problems } = await setUp();
    await page.goto(`${offload.url}/dashboard`);
    await page.locator('#channels-body tr[data-channel="audits"]').waitFor();
    await expect.poll(() => page.locator('#feed-status').textContent(), { timeout: 10_000 }).toBe('live');
    await expect.poll(() => page.locator('#rates').textContent(), { timeout: 10_000 }).toMatch(/delivered\/s/);
    await screenshot(page, 'dashboard-overview');
    expect(problems).toEqual([]);
  });

  it('finds a message by id and opens its attempts', async () => {
    const { offload, page, problems } = await setUp();
    await send(offload, 'audits', { id: 'order-42', type: 'order.placed', key: 'order-42', data: { total: 42 } });
    await expect.poll(() => statusOf(offload, 'order-42'), { timeout: 10_000 }).toBe('delivered');
    await page.goto(`${offload.url}/dashboard#messages`);
    await page.fill('#search-id', 'order-42');
    await page.click('#search-go');
    const message = page.locator('.message-page[data-message="order-42"]');
    await message.waitFor();
    const attempts = message.locator('table.attempts tbody tr');
    await expect.poll(() => attempts.count()).toBe(2);
    expect(await attempts.nth(0).textContent()).toContain('503');
    expect(await attempts.nth(1).textContent()).toContain('200');
    expect(await message.locator('pre.json').first().textContent()).toContain('"total": 42');
    await screenshot(page, 'dashboard-message');
    // The same message through the filters: by key, then from the results to its page.
    await page.click('a[href="#messages"]');
    await page.fill('#search-id', '');
    await page.fill('#search-key', 'order-42');
    await page.click('#search-go');
    await page.locator('#results-body tr[data-id="order-42"]').waitFor();
    expect(await page.locator('#results-body tr').count()).toBe(1);
    expect(problems).toEqual([]);
  });

  it('redrives a dead letter after saying how many it will redrive', async () => {
    const { offload, page, dead, problems } = await setUp();
    await send(offload, 'audits', { id: 'dead-1', type: 'sms.requested', data: { to: 'nobody' } });
    await expect.poll(() => statusOf(offload, 'dead-1'), { timeout: 10_000 }).toBe('deadlettered');
    await page.goto(`${offload.url}/dashboard#deadletters`);
    await page.locator('#dl-channel option[value="audits"]').waitFor({ state: 'attached' });
    await page.selectOption('#dl-channel', 'audits');
    const row = page.locator('#dl-body tr[data-id="dead-1"]');
    await row.waitFor();
    expect(await row.textContent()).toContain('400');
    dead.release();
    await row.locator('input[type="checkbox"]').check();
    const asked: string[] = [];
    page.once('dialog', (d) => { asked.push(d.message()); void d.accept(); });
    await screenshot(page, 'dashboard-dead-letters');
    await page.click('#dl-redrive');
    await expect.poll(() => statusOf(offload, 'dead-1'), { timeout: 10_000 }).toBe('delivered');
    expect(asked).toEqual(['Redrive 1 dead letter(s) of audits?']);
    expect(problems).toEqual([]);
  });

  it('retries a parked key', async () => {
    const { offload, page, parked, problems } = await setUp();
    await send(offload, 'provisionings', { id: 'p-1', key: 'tenant-bad', type: 'tenant.provision', data: {} });
    await expect.poll(() => statusOf(offload, 'p-1'), { timeout: 10_000 }).toBe('parked');
    await page.goto(`${offload.url}/dashboard`);
    const lanes = page.locator('tr[data-channel="provisionings"] button[data-action="lanes"]');
    await lanes.waitFor({ state: 'visible' });
    await lanes.click();
    const lane = page.locator('tr[data-lane="tenant-bad"]');
    await lane.waitFor();
    expect(await lane.textContent()).toContain('HTTP 422');
    await screenshot(page, 'dashboard-parked-key');
    parked.release();
    await lane.locator('button[data-action="lane-retry"]').click();
    await expect.poll(() => statusOf(offload, 'p-1'), { timeout: 10_000 }).toBe('delivered');
    expect(problems).toEqual([]);
  });

  /** A page on an Offload with a topic subscription and a schedule, no traffic. */
  async function topicSetUp() {
    const receiver = await testReceiver();
    const offload = await startOffload({
      server: { apiKeys: [{ key: KEY, role: 'operator' }] },
      endpoints: { sink: { url: receiver.url } },
      queues: { reports: { endpoint: 'sink', path: '/reports' } },
      topics: { events: { subscriptions: { model: { endpoint: 'sink', path: '/model', minBackoff: '10ms', maxBackoff: '50ms' } } } },
      schedules: { nightly: { cron: '0 3 * * *', timezone: 'Europe/London', queue: 'reports', message: { type: 'ReportDue' } } },
    });
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    onTestFinished(() => context.close());
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('console', (m) => { if (m.type() === 'error') problems.push(m.text()); });
    page.on('pageerror', (e) => problems.push(e.message));
    await page.addInitScript(`sessionStorage.setItem('offload.apiKey', ${JSON.stringify(KEY)})`);
    return { receiver, offload, page, problems };
  }

  it('seeks a subscription back from its row after a confirmation, and shows a refusal in the form', async () => {
    const { receiver, offload, page, problems } = await topicSetUp();
    const res = await fetch(`${offload.url}/v1/topics/events/messages/batch`, {
      method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
      body: JSON.stringify({ messages: ['e1', 'e2', 'e3'].map((id) => ({ id, type: 'thing.happened', data: {} })) }),
    });
    expect(res.status).toBe(202);
    await expect.poll(() => statusOf(offload, 'e3'), { timeout: 10_000 }).toBe('delivered');
    await page.goto(`${offload.url}/dashboard`);
    const seek = page.locator('tr[data-channel="events/model"] button[data-action="seek"]');
    await seek.waitFor({ state: 'visible' });
    await seek.click();
    await page.locator('#seek-dialog').waitFor({ state: 'visible' });
    const asked: string[] = [];
    page.on('dialog', (d) => { asked.push(d.message()); void d.accept(); });
    await page.fill('#seek-sequence', '99');
    await page.click('#seek-go');
    await expect.poll(() => page.locator('#seek-error').textContent()).toMatch(/sequence 99 has not been published yet.*seek to 4/);
    await page.fill('#seek-sequence', '2');
    await screenshot(page, 'dashboard-seek');
    await page.click('#seek-go');
    await page.locator('#seek-dialog').waitFor({ state: 'hidden' });
    await expect.poll(() => page.locator('#notices').textContent()).toContain('events/model now reads from sequence 2: 2 to deliver again, 0 skipped');
    await expect.poll(() => receiver.acceptCounts().get('e3') ?? 0, { timeout: 10_000 }).toBe(2);
    expect(receiver.acceptCounts().get('e1')).toBe(1);
    expect(asked.at(-1)).toBe('Seek events/model to sequence 2? Events it delivered or skipped from there on are delivered again.');
    expect(problems.filter((p) => !p.includes('409'))).toEqual([]);
  });

  it('lists schedules with their next and last run, and pauses and resumes one', async () => {
    const { offload, page, problems } = await topicSetUp();
    await page.goto(`${offload.url}/dashboard#schedules`);
    const row = page.locator('#schedules-body tr[data-schedule="nightly"]');
    await row.waitFor();
    expect(await row.textContent()).toMatch(/0 3 \* \* \*.*Europe\/London.*queue reports · ReportDue.*never.*active/);
    page.on('dialog', (d) => void d.accept());
    await row.locator('button[data-action="pause"]').click();
    await expect.poll(() => page.locator('#schedules-body tr[data-schedule="nightly"]').textContent()).toMatch(/paused.*Resume/);
    const paused = await fetch(`${offload.url}/v1/schedules/nightly`, { headers: { authorization: `Bearer ${KEY}` } });
    expect(await paused.json()).toMatchObject({ paused: true, nextRunAt: null });
    await screenshot(page, 'dashboard-schedules');
    await page.locator('#schedules-body tr[data-schedule="nightly"] button[data-action="resume"]').click();
    await expect.poll(() => page.locator('#schedules-body tr[data-schedule="nightly"]').textContent()).toMatch(/active.*Pause/);
    expect(problems).toEqual([]);
  });

  it('draws the charts and sees them update, usable at 800 px', async () => {
    const { offload, page, problems } = await setUp(800);
    await page.goto(`${offload.url}/dashboard#charts`);
    const summary = page.locator('#charts-summary');
    await expect.poll(async () => Number(await summary.getAttribute('data-delivered')), { timeout: 15_000 }).toBeGreaterThan(0);
    const first = Number(await summary.getAttribute('data-delivered'));
    await expect.poll(async () => Number(await summary.getAttribute('data-delivered')), { timeout: 20_000 }).toBeGreaterThan(first);
    expect(await page.locator('#chart-throughput canvas').count()).toBe(1);
    // Nothing wider than the window: the tables scroll inside their panels.
    expect(await page.evaluate<number>('document.documentElement.scrollWidth')).toBeLessThanOrEqual(800);
    await screenshot(page, 'dashboard-charts-800px');
    await page.click('#nav-overview');
    await page.locator('#channels-body tr[data-channel="audits"]').waitFor();
    expect(await page.evaluate<number>('document.documentElement.scrollWidth')).toBeLessThanOrEqual(800);
    await screenshot(page, 'dashboard-overview-800px');
    const answer = await get(offload.url, '/v1/channels');
    expect(answer.status).toBe(401); // the page used its key; the API stays closed without one
    expect(problems).toEqual([]);
  });
});
