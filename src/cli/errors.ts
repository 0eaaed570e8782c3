import { CommanderError } from 'commander';
import { OffloadApiError } from '../client/index.js';
import { OffloadError } from '../domain/errors.js';

interface SystemError extends Error {
  code?: string;
  address?: string;
  port?: number;
  path?: string;
  cause?: unknown;
}

/**
 * What the CLI prints when a command fails: one line saying what went wrong and what to do
 * (a configuration error adds one line per invalid field). No stack trace unless
 * OFFLOAD_DEBUG is set: operators read these, and scripts read the exit code.
 */
export function describeError(error: unknown, context: { url: string }): string[] {
  if (error instanceof OffloadApiError) {
    const said = (error.problem?.detail ?? error.message).replace(/\s+/g, ' ').trim();
    // The API speaks of headers and query parameters; the CLI user sets a flag or a variable.
    const flags = said.replaceAll('?key=<key>', '--key <key>').replaceAll('leave out ?key=', 'leave out --key');
    const detail = error.status === 401 && !said.includes('event stream') ? `${flags} (give the key with --api-key or OFFLOAD_API_KEY)` : flags;
    const lines = [`error: ${detail}`];
    // A field the detail already explains is not repeated: one refusal, one line.
    for (const e of error.problem?.errors ?? []) if (!detail.includes(e.message)) lines.push(`  - ${e.path}: ${e.message}`);
    return lines;
  }
  if (error instanceof OffloadError || error instanceof CommanderError) return [`error: ${error.message.replace(/^error: /, '')}`];
  if (!(error instanceof Error)) return [`error: ${String(error)}`];
  const system = error as SystemError;
  const code = system.code ?? (system.cause as SystemError | undefined)?.code;
  if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'ECONNRESET') {
    return [`error: cannot reach Offload at ${context.url} (${code}; is it running? set --url or OFFLOAD_URL)`];
  }
  // fetch() says only "fetch failed"; the reason is its cause.
  if (error instanceof TypeError && error.message === 'fetch failed') {
    const cause = error.cause instanceof Error ? error.cause.message : 'network error';
    return [`error: cannot reach Offload at ${context.url} (${cause}; set --url or OFFLOAD_URL)`];
  }
  if (code === 'EADDRINUSE') return [`error: ${where(system)} is already in use; choose another with --port or server.port`];
  if (code === 'EACCES' && system.port !== undefined) return [`error: not allowed to listen on ${where(system)}; use a port above 1023`];
  if (code === 'EADDRNOTAVAIL') return [`error: cannot listen on ${where(system)}: no such address on this machine; check --host or server.host`];
  return [`error: ${(error.message.split('\n')[0] ?? '').trim() || error.name}`];
}

function where(error: SystemError): string {
  return error.port === undefined ? 'the address' : `port ${error.port}${error.address ? ` on ${error.address}` : ''}`;
}

/** Prints the error and exits 1; the stack only when OFFLOAD_DEBUG is set. */
export function fail(error: unknown, context: { url: string }): never {
  for (const line of describeError(error, context)) console.error(line);
  if (process.env.OFFLOAD_DEBUG && error instanceof Error) console.error(error.stack);
  process.exit(1);
}
