import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { withTimeout } from './clock.js';
import type { HostLog, HostOpName, HostOps, HostResponse } from './host-protocol.js';

/** Every child this process started, so that none outlives the run. */
const children = new Set<ChildProcess>();

export function killAllChildren(): void {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  children.clear();
}

function forkTs(relativePath: string): ChildProcess {
  const entry = fileURLToPath(new URL(relativePath, import.meta.url));
  // tsx runs the TypeScript sources directly, so the suite needs no build step.
  const child = fork(entry, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

export interface ReceiverProcess {
  readonly origin: string;
  stop(): void;
}

export async function spawnReceiver(): Promise<ReceiverProcess> {
  const child = forkTs('../receiver.ts');
  const port = await withTimeout(
    new Promise<number>((resolve, reject) => {
      child.once('message', (m: { port?: number }) => (m.port ? resolve(m.port) : reject(new Error('no port'))));
      child.once('exit', (code) => reject(new Error(`receiver exited with ${code}`)));
    }),
    30_000,
    'receiver start',
  );
  return { origin: `http://127.0.0.1:${port}`, stop: () => child.kill('SIGTERM') };
}

export interface HostHandle {
  call<K extends HostOpName>(op: K, args: HostOps[K]['args'], timeoutMs: number): Promise<HostOps[K]['result']>;
  /** Asks for a teardown, then kills the process whatever happened. */
  close(timeoutMs: number): Promise<void>;
}

export function spawnHost(onLog: (line: string) => void): HostHandle {
  const child = forkTs('../system-host.ts');
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  let nextId = 1;
  child.on('message', (message: HostResponse | HostLog) => {
    if ('log' in message) return onLog(message.log);
    const waiter = pending.get(message.id);
    pending.delete(message.id);
    if (message.ok) waiter?.resolve(message.result);
    else waiter?.reject(new Error(message.error));
  });
  child.once('exit', (code, signal) => {
    for (const waiter of pending.values()) waiter.reject(new Error(`host exited (${code ?? signal})`));
    pending.clear();
  });

  async function call<K extends HostOpName>(op: K, args: HostOps[K]['args'], timeoutMs: number) {
    const id = nextId++;
    const result = new Promise<unknown>((resolve, reject) => {
      pending.set(id, { resolve, reject });
      child.send({ id, op, args });
    });
    return (await withTimeout(result, timeoutMs, `host ${op}`)) as HostOps[K]['result'];
  }

  return {
    call,
    async close(timeoutMs) {
      try {
        if (child.connected) await call('teardown', {}, timeoutMs);
      } finally {
        child.kill('SIGKILL');
      }
    },
  };
}
