import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const GUARD = pathToFileURL(join(ROOT, 'chaos/orphan-guard.ts')).href;

/** Lines of a child's output kept for diagnostics; older ones are dropped. */
const LOG_LINES = 400;

export interface OffloadProcess {
  readonly name: string;
  readonly url: string;
  readonly pid: number;
  /** Resolves with the exit code (or signal) once the process is gone. */
  readonly exited: Promise<number | string>;
  isAlive(): boolean;
  /** The last lines it wrote. */
  logTail(): string[];
  /** Sends `signal` (default SIGKILL) and resolves once it exited. */
  kill(signal?: NodeJS.Signals): Promise<number | string>;
}

export interface SpawnOptions {
  readonly name: string;
  readonly configPath: string;
  /** Extra `offload serve` flags, e.g. `--postgres <url>`. */
  readonly args?: readonly string[];
  readonly startTimeoutMs?: number;
  /** Called with every `alert` a log line carries (parked, stalled, breaker-open...). */
  readonly onAlert?: (alert: string) => void;
}

const children = new Set<ChildProcess>();

/** Kills every child still running; synchronous, so it also works from an `exit` handler. */
export function killAllChildren(): void {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

/**
 * Starts `offload serve` (TypeScript through tsx, no build needed) on a free loopback port and
 * resolves once it logs that it is listening.
 */
export async function spawnOffload(options: SpawnOptions): Promise<OffloadProcess> {
  const args = ['--import', 'tsx', '--import', GUARD, join(ROOT, 'src/cli/main.ts'), 'serve'];
  args.push('--config', options.configPath, '--port', '0', '--host', '127.0.0.1', ...(options.args ?? []));
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { ...process.env, OFFLOAD_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  const log = createLogTail(options.onAlert);
  child.stdout!.on('data', (chunk: Buffer) => log.add(chunk));
  child.stderr!.on('data', (chunk: Buffer) => log.add(chunk));
  const exited = new Promise<number | string>((done) =>
    child.on('exit', (code, signal) => {
      children.delete(child);
      done(code ?? signal ?? 'unknown');
    }),
  );
  const url = await waitForUrl(log, exited, options.startTimeoutMs ?? 30_000).catch((error: unknown) => {
    child.kill('SIGKILL');
    throw error;
  });
  const isAlive = (): boolean => child.exitCode === null && child.signalCode === null;
  return {
    name: options.name,
    url,
    pid: child.pid ?? -1,
    exited,
    isAlive,
    logTail: () => log.lines(),
    kill: async (signal = 'SIGKILL') => {
      if (isAlive()) child.kill(signal);
      return exited;
    },
  };
}

interface LogTail {
  add(chunk: Buffer): void;
  lines(): string[];
  onLine(listener: (line: string) => void): () => void;
}

function createLogTail(onAlert: ((alert: string) => void) | undefined): LogTail {
  const kept: string[] = [];
  const listeners = new Set<(line: string) => void>();
  let partial = '';
  return {
    add(chunk) {
      const parts = (partial + chunk.toString('utf8')).split('\n');
      partial = parts.pop() ?? '';
      for (const line of parts) {
        kept.push(line);
        if (kept.length > LOG_LINES) kept.shift();
        const alert = /"alert":"([^"]+)"/.exec(line)?.[1];
        if (alert) onAlert?.(alert);
        for (const listener of listeners) listener(line);
      }
    },
    lines: () => (partial ? [...kept, partial] : [...kept]),
    onLine(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}

function waitForUrl(log: LogTail, exited: Promise<number | string>, timeoutMs: number): Promise<string> {
  return new Promise<string>((resolveUrl, reject) => {
    const tail = (): string => log.lines().slice(-30).join('\n');
    const timer = setTimeout(() => finish(new Error(`offload did not start within ${timeoutMs}ms:\n${tail()}`)), timeoutMs);
    const stop = log.onLine((line) => {
      const match = /listening on (http:\/\/[^\s|"]+)/.exec(line);
      if (match?.[1]) finish(match[1]);
    });
    void exited.then((code) => finish(new Error(`offload exited (${code}) before listening:\n${tail()}`)));
    let done = false;
    function finish(result: string | Error): void {
      if (done) return;
      done = true;
      clearTimeout(timer);
      stop();
      if (typeof result === 'string') resolveUrl(result);
      else reject(result);
    }
  });
}
