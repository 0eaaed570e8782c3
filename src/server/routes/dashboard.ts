import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { sendProblem } from '../problem.js';

const PAGE = join('dashboard', 'index.html');

/**
 * The operator dashboard (SPEC §5, §6, §9): one static page that reads the v1 API from the
 * browser. `GET /` redirects to it. The page is read once, here, so a request never touches
 * the disk.
 */
export function dashboardRoutes(app: FastifyInstance): void {
  const file = findPage(dirname(fileURLToPath(import.meta.url)));
  const page = file === undefined ? undefined : readFileSync(file, 'utf8');
  const headers = page === undefined ? undefined : pageHeaders(page);

  app.get('/', async (_request, reply) => reply.redirect('/dashboard', 302));
  app.get('/dashboard', async (_request, reply) => {
    if (page === undefined || headers === undefined) {
      return sendProblem(reply, 404, 'not_found', `the dashboard is not installed: ${PAGE} is missing from this Offload package`);
    }
    return reply.headers(headers).send(page);
  });
}

/**
 * `dashboard/` sits at the package root: three levels above this file when run from `src/`
 * with tsx, four from `dist/src/` after `tsc`. Walking up keeps both (and any future layout) working.
 */
function findPage(from: string): string | undefined {
  for (let dir = from; ; dir = dirname(dir)) {
    const candidate = join(dir, PAGE);
    if (existsSync(candidate)) return candidate;
    if (dirname(dir) === dir) return undefined;
  }
}

/**
 * Only the page's own inline script and style may run (by hash, not 'unsafe-inline'), and it may
 * only talk to this origin: a message key or failure reason that slipped into the DOM as markup
 * could still not execute anything or send data elsewhere.
 */
function pageHeaders(page: string): Record<string, string> {
  const hashes = (tag: string) =>
    [...page.matchAll(new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`, 'g'))].map((m) => `'sha256-${createHash('sha256').update(m[1]!).digest('base64')}'`).join(' ');
  const csp = [
    "default-src 'none'",
    `script-src ${hashes('script') || "'none'"}`,
    `style-src ${hashes('style') || "'none'"}`,
    "connect-src 'self'",
    "img-src 'self' data:",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
  return {
    'content-type': 'text/html; charset=utf-8',
    'content-security-policy': csp,
    'cache-control': 'no-cache',
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
  };
}
