import { createHash } from 'node:crypto';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dashboardRoutes } from '../../src/server/routes/dashboard.js';

const sha256 = (text: string) => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;

describe('dashboard', () => {
  let app: FastifyInstance;

  beforeAll(async () => {
    app = Fastify();
    dashboardRoutes(app);
    await app.ready();
  });
  afterAll(async () => {
    await app.close();
  });

  it('serves one self-contained HTML page with the operator views', async () => {
    const res = await app.inject({ method: 'GET', url: '/dashboard' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    for (const id of ['api-status', 'key-panel', 'api-key', 'summary', 'channels', 'channels-body', 'breakers', 'breakers-body', 'feed-status', 'rates', 'events', 'notices']) {
      expect(res.body, `element #${id}`).toContain(`id="${id}"`);
    }
    // Works offline: nothing is loaded from anywhere else.
    expect(res.body).not.toMatch(/\b(src|href)\s*=\s*["']?(https?:)?\/\//i);
    expect(res.body).not.toMatch(/@import|url\(\s*["']?(https?:)?\/\//i);
  });

  it('lets only its own inline script and style run, and talk only to this origin', async () => {
    const res = await app.inject({ method: 'GET', url: '/dashboard' });
    const csp = String(res.headers['content-security-policy']);
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("connect-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).not.toContain('unsafe-eval');
    // Every script and style block must be plain `<script>` / `<style>` so its hash is in the policy.
    const scripts = [...res.body.matchAll(/<script([^>]*)>([\s\S]*?)<\/script>/g)];
    const styles = [...res.body.matchAll(/<style([^>]*)>([\s\S]*?)<\/style>/g)];
    expect(scripts.length).toBeGreaterThan(0);
    expect(styles.length).toBeGreaterThan(0);
    for (const [, attributes, body] of [...scripts, ...styles]) {
      expect(attributes).toBe('');
      expect(csp).toContain(sha256(body!));
    }
    // Inline handlers and style attributes would be refused by this policy.
    expect(res.body).not.toMatch(/\son[a-z]+\s*=\s*["']/i);
    expect(res.body).not.toMatch(/<[a-z][^>]*\sstyle\s*=/i);
  });

  it('redirects / to the dashboard', async () => {
    const res = await app.inject({ method: 'GET', url: '/' });
    expect(res.statusCode).toBe(302);
    expect(res.headers.location).toBe('/dashboard');
  });
});
