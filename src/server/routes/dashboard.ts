import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, extname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { sendProblem } from '../problem.js';

const DIR = 'dashboard';
const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

/**
 * Only files of this origin may run or style the page (no inline script or style, nothing from
 * elsewhere), and it may only talk to this origin: a message key or failure reason that slipped
 * into the DOM as markup could still not execute anything or send data elsewhere.
 */
const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const HEADERS = {
  'content-security-policy': CSP,
  'cache-control': 'no-cache',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

/**
 * The operator dashboard (SPEC §5, §6, §9): a static page and its scripts (checked JavaScript
 * modules, the vendored chart library) that read the v1 API from the browser. `GET /` redirects
 * to it. Every file is read once, here, into a fixed map: a request never touches the disk and
 * never names a path outside it.
 */
export function dashboardRoutes(app: FastifyInstance): void {
  const dir = findDashboard(dirname(fileURLToPath(import.meta.url)));
  const files = dir === undefined ? new Map<string, { body: string; type: string }>() : readAssets(dir);
  const page = files.get('index.html');

  app.get('/', async (_request, reply) => reply.redirect('/dashboard', 302));
  app.get('/dashboard', async (_request, reply) => {
    if (page === undefined) return sendProblem(reply, 404, 'not_found', `the dashboard is not installed: ${join(DIR, 'index.html')} is missing from this Offload package`);
    return reply.headers({ ...HEADERS, 'content-type': page.type }).send(page.body);
  });
  app.get<{ Params: { '*': string } }>('/dashboard/*', async (request, reply) => {
    // `/dashboard/` is the page too (a bookmark or a proxy may add the slash); its files are relative to /dashboard.
    if (request.params['*'] === '') return reply.redirect('/dashboard', 301);
    const file = files.get(request.params['*']);
    if (file === undefined) return sendProblem(reply, 404, 'not_found', `no dashboard file '${request.params['*']}'; open /dashboard`);
    return reply.headers({ ...HEADERS, 'content-type': file.type }).send(file.body);
  });
}

/**
 * `dashboard/` sits at the package root: three levels above this file when run from `src/`
 * with tsx, four from `dist/src/` after `tsc`. Walking up keeps both (and any future layout) working.
 */
function findDashboard(from: string): string | undefined {
  for (let dir = from; ; dir = dirname(dir)) {
    const candidate = join(dir, DIR, 'index.html');
    if (existsSync(candidate)) return join(dir, DIR);
    if (dirname(dir) === dir) return undefined;
  }
}

/** The page, its modules and styles (type declarations and notes are not served). */
function readAssets(root: string): Map<string, { body: string; type: string }> {
  const files = new Map<string, { body: string; type: string }>();
  const walk = (dir: string, depth: number) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) {
        if (depth < 2) walk(path, depth + 1);
        continue;
      }
      const type = TYPES[extname(name)];
      if (type === undefined || name.endsWith('.d.ts')) continue;
      files.set(relative(root, path).split(sep).join('/'), { body: readFileSync(path, 'utf8'), type });
    }
  };
  walk(root, 0);
  return files;
}
