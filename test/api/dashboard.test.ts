import { readFileSync } from 'node:fs';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dashboardRoutes } from '../../src/server/routes/dashboard.js';
import { LIVE_EVENT_TYPES } from '../../src/server/event-hub.js';
import type { DeliveryEvent } from '../../src/delivery/dispatcher.js';

describe('dashboard', () => {
  let app: FastifyInstance;
  const get = (url: string) => app.inject({ method: 'GET', url });

  beforeAll(async () => {
    app = Fastify();
    dashboardRoutes(app);
    await app.ready();
  });
  afterAll(async () => {
    await app.close();
  });

  it('listens on the live feed for every type of event the stream carries', () => {
    const source = readFileSync(new URL('../../dashboard/feed.js', import.meta.url), 'utf8');
    const listed = /const EVENT_TYPES = \[([^\]]*)\]/.exec(source)![1]!.match(/'[^']+'/g)!.map((t) => t.slice(1, -1));
    expect([...listed].sort()).toEqual([...LIVE_EVENT_TYPES].sort());
    // Every delivery outcome is one of them (a compile-time check as much as a run-time one).
    const outcomes: Array<DeliveryEvent['type']> = ['delivered', 'retrying', 'deadlettered', 'parked', 'stalled', 'fenced', 'deferred'];
    const known: readonly string[] = LIVE_EVENT_TYPES;
    for (const type of outcomes) expect(known).toContain(type satisfies (typeof LIVE_EVENT_TYPES)[number]);
  });

  it('serves the page with the operator views and no inline script or style', async () => {
    const res = await get('/dashboard');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    for (const id of ['api-status', 'key-panel', 'api-key', 'summary', 'channels-body', 'breakers-body', 'feed-status', 'events', 'notices',
      'tab-messages', 'search-form', 'results-body', 'message', 'tab-deadletters', 'dl-body', 'tab-charts', 'chart-throughput']) {
      expect(res.body, `element #${id}`).toContain(`id="${id}"`);
    }
    expect(res.body).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(res.body).not.toMatch(/<style/);
    expect(res.body).not.toMatch(/\son[a-z]+\s*=\s*["']/i);
    expect(res.body).not.toMatch(/<[a-z][^>]*\sstyle\s*=/i);
    // Works offline: nothing is loaded from anywhere else.
    expect(res.body).not.toMatch(/\b(src|href)\s*=\s*["']?(https?:)?\/\//i);
  });

  it('lets only this origin’s files run and style the page, and talk only to this origin', async () => {
    for (const url of ['/dashboard', '/dashboard/app.js', '/dashboard/style.css']) {
      const csp = String((await get(url)).headers['content-security-policy']);
      expect(csp).toContain("default-src 'none'");
      expect(csp).toContain("script-src 'self'");
      expect(csp).toContain("style-src 'self'");
      expect(csp).toContain("connect-src 'self'");
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).not.toContain('unsafe-inline');
      expect(csp).not.toContain('unsafe-eval');
    }
  });

  it('serves every file the page and its modules load, and nothing else', async () => {
    const page = (await get('/dashboard')).body;
    const pending = [...page.matchAll(/(?:src|href)="(\/dashboard\/[^"]+)"/g)].map((m) => m[1]!);
    const seen = new Set<string>();
    while (pending.length > 0) {
      const url = pending.pop()!;
      if (seen.has(url)) continue;
      seen.add(url);
      const res = await get(url);
      expect(res.statusCode, url).toBe(200);
      expect(res.headers['content-type'], url).toMatch(url.endsWith('.js') ? /^text\/javascript/ : /^text\/css/);
      if (!url.endsWith('.js')) continue;
      for (const m of res.body.matchAll(/^\s*import\s[^'"]*['"](\.{1,2}\/[^'"]+)['"]/gm)) pending.push(new URL(m[1]!, `http://x${url}`).pathname);
    }
    expect([...seen]).toEqual(expect.arrayContaining(['/dashboard/app.js', '/dashboard/vendor/uPlot.esm.js', '/dashboard/vendor/uPlot.min.css', '/dashboard/charts.js']));
    for (const url of ['/dashboard/../package.json', '/dashboard/vendor/uPlot.esm.d.ts', '/dashboard/tsconfig.json', '/dashboard/nope.js']) expect((await get(url)).statusCode, url).toBe(404);
  });

  it('ships the chart library exactly as the installed uplot package has it', () => {
    for (const [vendored, installed] of [['uPlot.esm.js', 'uPlot.esm.js'], ['uPlot.esm.d.ts', 'uPlot.d.ts'], ['uPlot.min.css', 'uPlot.min.css']]) {
      expect(readFileSync(`dashboard/vendor/${vendored}`, 'utf8'), `${vendored}: run npm run dashboard:vendor`).toBe(readFileSync(`node_modules/uplot/dist/${installed}`, 'utf8'));
    }
  });

  it('redirects / to the dashboard, and /dashboard/ to the page its files are relative to', async () => {
    const res = await get('/');
    expect(res.statusCode).toBe(302);
    expect(res.headers.location).toBe('/dashboard');
    const slash = await get('/dashboard/');
    expect(slash.statusCode).toBe(301);
    expect(slash.headers.location).toBe('/dashboard');
  });
});
