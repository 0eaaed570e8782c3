import pg from 'pg';
import type { CustomTypesConfig, PoolClient, QueryResultRow } from 'pg';
import { OffloadError, StoreUnavailableError, ValidationError } from '../../domain/errors.js';
import type { Statement } from './statements.js';

/** Anything that runs a query: a pool client of ours, or the application's client (outbox). */
export interface Queryable {
  query<R extends QueryResultRow>(config: { text: string; values?: unknown[]; name?: string; types?: CustomTypesConfig }): Promise<{ rows: R[]; rowCount: number | null }>;
}

/**
 * bigint columns (ids, epoch-ms times, counts) come back as numbers: they stay far below 2^53.
 * Passed per pool and per query, never set globally, so the application's own `pg` is untouched.
 */
export const pgTypes: CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === pg.types.builtins.INT8 ? (value: string) => Number(value) : pg.types.getTypeParser(oid, format)) as CustomTypesConfig['getTypeParser'],
};

/** Runs one statement. `prepared` names it, so each connection parses and plans it once. */
export async function run<R extends QueryResultRow>(db: Queryable, st: Statement, values: unknown[], prepared = false): Promise<R[]> {
  const config = prepared ? { name: st.name, text: st.text, values, types: pgTypes } : { text: st.text, values, types: pgTypes };
  const result = await db.query<R>(config);
  return result.rows;
}

/** Runs one statement for its effect; returns the number of rows it changed. */
export async function execute(db: Queryable, st: Statement, values: unknown[], prepared = false): Promise<number> {
  const result = await db.query(prepared ? { name: st.name, text: st.text, values } : { text: st.text, values });
  return result.rowCount ?? 0;
}

const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNABORTED',
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now (starting up, in recovery)
  '57014', // query_canceled (statement_timeout)
  '25006', // read_only_sql_transaction (a standby after failover)
  '57P04', // database_dropped
  '3D000', // invalid_catalog_name: the database is gone (or not yet restored)
]);
const UNAVAILABLE_MESSAGES = /Connection terminated|timeout exceeded when trying to connect|not queryable|Client was closed|Cannot use a pool after calling end|not currently accepting connections/i;

/** Connection-level failures: the database is down, restarting, unreachable or out of connections. */
export function isUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (UNAVAILABLE_CODES.has(code)) return true;
    // Class 08: connection exception; class 53: insufficient resources (too many connections, disk full);
    // class 58: system error (I/O error).
    // Class 28: the server refuses our credentials (a rotated password): nothing to do but wait for the fix.
    if (code.startsWith('08') || code.startsWith('28') || code.startsWith('53') || code.startsWith('58')) return true;
  }
  if (error instanceof AggregateError) return error.errors.some(isUnavailable);
  return UNAVAILABLE_MESSAGES.test(error.message);
}

/** lock_not_available: a statement's lock_timeout ran out (a lock another transaction holds). */
export function isLockTimeout(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === '55P03';
}

/** Deadlocks and serialization failures: the transaction was rolled back and may simply run again. */
function isRetryable(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === '40P01' || code === '40001';
}

/** Data exceptions a client's value causes: text the database cannot hold (a NUL character), a number out of range. */
const CLIENT_DATA_CODES = new Set([
  '22021', // character_not_in_repertoire (NUL in text)
  '22P05', // untranslatable_character
  '22003', // numeric_value_out_of_range
  '22P02', // invalid_text_representation
  '22001', // string_data_right_truncation
]);

/**
 * Maps connection failures to StoreUnavailableError, and data exceptions a client's value causes
 * to a 400: the API checks what it takes, and this keeps anything it missed a client error, not a
 * 500. Everything else passes through unchanged.
 */
export function mapError(error: unknown): unknown {
  if (error instanceof OffloadError) return error;
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && CLIENT_DATA_CODES.has(code)) {
    return new ValidationError(`a value in the request cannot be stored: ${(error as Error).message}`);
  }
  if (!isUnavailable(error)) return error;
  return new StoreUnavailableError(`PostgreSQL is unavailable: ${(error as Error).message}`, error);
}

export async function guard<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw mapError(error);
  }
}

export type Durability = 'durable' | 'relaxed';

/**
 * Runs `work` in one transaction on a pooled connection. `relaxed` transactions (claims,
 * settlements, renewals) commit without waiting for the WAL flush: losing one at a crash only
 * means a delivery is tried again. Deadlocks and serialization failures are retried.
 */
export function transaction<T>(pool: pg.Pool, durability: Durability, work: (client: PoolClient) => Promise<T>): Promise<T> {
  return retrying(() => once(pool, durability, work));
}

/** Runs work that is one transaction by itself (a single statement), retrying deadlocks. */
export async function retrying<T>(work: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (error) {
      if (attempt < 4 && isRetryable(error)) continue;
      throw mapError(error);
    }
  }
}

async function once<T>(pool: pg.Pool, durability: Durability, work: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query(durability === 'relaxed' ? 'BEGIN; SET LOCAL synchronous_commit = off' : 'BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    client.release();
    return result;
  } catch (error) {
    if (isUnavailable(error)) {
      client.release(error as Error);
    } else {
      // A failed ROLLBACK means the connection is broken: destroy it rather than reuse it.
      await client.query('ROLLBACK').then(() => client.release(), (rollbackError: Error) => client.release(rollbackError));
    }
    throw error;
  }
}

export interface PoolSettings {
  url?: string;
  pool?: pg.Pool;
  poolSize: number;
  connectionTimeoutMs: number;
}

/**
 * The store's pool: either one it owns (created from `url`) or the application's. Idle-client
 * errors and errors on checked-out clients between queries are caught here, so a database
 * restart never crashes the process; the affected queries reject and the clients are replaced.
 */
export function openPool(settings: PoolSettings): { pool: pg.Pool; owned: boolean } {
  const ignore = (): void => {};
  if (settings.pool) {
    settings.pool.on('error', ignore);
    settings.pool.on('connect', (client) => client.on('error', ignore));
    return { pool: settings.pool, owned: false };
  }
  if (!settings.url) throw new Error('createPostgresStore needs a `url` or a `pool`');
  const pool = new pg.Pool({
    connectionString: settings.url,
    max: settings.poolSize,
    connectionTimeoutMillis: settings.connectionTimeoutMs,
    idleTimeoutMillis: 30_000,
    types: pgTypes,
    application_name: 'offload',
  });
  pool.on('error', ignore);
  pool.on('connect', (client) => client.on('error', ignore));
  return { pool, owned: true };
}

export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

export const SCHEMA_PATTERN = /^[a-z_][a-z0-9_]{0,40}$/;
