import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { promisify } from 'node:util';
import pg from 'pg';
import { sleep } from './timing.js';

const run = promisify(execFile);

/**
 * Checks that `--store postgres` can work before starting anything: the adapter exists in this
 * checkout and the server answers. Returns a sentence saying what is missing, or undefined.
 */
export async function postgresProblem(url: string): Promise<string | undefined> {
  try {
    const adapter = (await import('../src/storage/postgres/index.js')) as Record<string, unknown>;
    if (typeof adapter.createPostgresStore !== 'function') return 'src/storage/postgres does not export createPostgresStore yet';
  } catch (error) {
    return `the PostgreSQL adapter (src/storage/postgres) cannot be loaded: ${(error as Error).message}`;
  }
  try {
    await query(url, 'SELECT 1');
  } catch (error) {
    return `PostgreSQL is not reachable at ${url} (set --pg-url): ${(error as Error).message}`;
  }
  return undefined;
}

/** A schema of its own per run, so runs never see each other's messages. */
export function chaosSchema(): string {
  return `offload_chaos_${randomBytes(5).toString('hex')}`;
}

export async function dropSchema(url: string, schema: string): Promise<void> {
  await query(url, `DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
}

/**
 * Restarts the machine's PostgreSQL cluster and resolves once it answers again, with the
 * outage as seen on `now`. Only a server on this machine is restarted.
 */
export async function restartPostgres(url: string, now: () => number): Promise<{ at: number; until: number }> {
  const host = new URL(url).hostname;
  if (!['127.0.0.1', 'localhost', '::1', '[::1]'].includes(host)) {
    throw new Error(`refusing to restart PostgreSQL at ${host}: only a server on this machine is restarted`);
  }
  const version = readdirSync('/etc/postgresql')[0];
  if (!version) throw new Error('no PostgreSQL cluster under /etc/postgresql');
  const at = now();
  await run('pg_ctlcluster', ['--skip-systemctl-redirect', version, 'main', 'restart'], { timeout: 60_000 });
  await waitUntilAnswering(url, 30_000);
  return { at, until: now() };
}

async function waitUntilAnswering(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await query(url, 'SELECT 1');
      return;
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`PostgreSQL did not come back within ${timeoutMs}ms: ${(error as Error).message}`);
      await sleep(100);
    }
  }
}

async function query(url: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3_000 });
  try {
    await client.connect();
    await client.query(sql);
  } finally {
    await client.end().catch(() => undefined);
  }
}
