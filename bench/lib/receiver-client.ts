import { request } from 'undici';
import { sleep } from './clock.js';
import type { ReceiverSnapshot, StreamSnapshot } from './receiver-state.js';

export interface ReceiverClient {
  reset(tag: string): Promise<void>;
  stats(withLatency: boolean): Promise<ReceiverSnapshot>;
  /**
   * Resolves once every stream has at least its expected number of unique ids, then
   * waits `settleMs` more so that late duplicates are still counted. Rejects on timeout
   * or when nothing arrives for `stallMs`.
   */
  waitFor(expected: Readonly<Record<string, number>>, limits: WaitLimits): Promise<ReceiverSnapshot>;
}

export interface WaitLimits {
  readonly timeoutMs: number;
  readonly stallMs: number;
  readonly settleMs: number;
}

const POLL_MS = 50;

function emptyStream(): StreamSnapshot {
  return {
    received: 0, unique: 0, duplicates: 0, foreign: 0, orderViolations: 0, overlaps: 0,
    firstAt: Number.NaN, lastAt: Number.NaN,
  };
}

export function streamOf(snapshot: ReceiverSnapshot, name: string): StreamSnapshot {
  return snapshot.streams[name] ?? emptyStream();
}

function totalReceived(snapshot: ReceiverSnapshot): number {
  return Object.values(snapshot.streams).reduce((sum, s) => sum + s.received, 0);
}

export function createReceiverClient(origin: string): ReceiverClient {
  async function stats(withLatency: boolean): Promise<ReceiverSnapshot> {
    const res = await request(`${origin}/_stats${withLatency ? '?latency=1' : ''}`);
    return (await res.body.json()) as ReceiverSnapshot;
  }

  async function waitFor(expected: Readonly<Record<string, number>>, limits: WaitLimits): Promise<ReceiverSnapshot> {
    const deadline = Date.now() + limits.timeoutMs;
    let lastTotal = -1;
    let lastProgress = Date.now();
    while (Date.now() < deadline) {
      const snapshot = await stats(false);
      const done = Object.entries(expected).every(([name, n]) => streamOf(snapshot, name).unique >= n);
      if (done) {
        await sleep(limits.settleMs);
        return stats(true);
      }
      const total = totalReceived(snapshot);
      if (total !== lastTotal) {
        lastTotal = total;
        lastProgress = Date.now();
      } else if (Date.now() - lastProgress > limits.stallMs) {
        throw new Error(`no delivery for ${limits.stallMs} ms (${describeProgress(snapshot, expected)})`);
      }
      await sleep(POLL_MS);
    }
    throw new Error(`not all delivered within ${limits.timeoutMs} ms (${describeProgress(await stats(false), expected)})`);
  }

  return {
    async reset(tag) {
      const res = await request(`${origin}/_reset?tag=${encodeURIComponent(tag)}`, { method: 'POST' });
      await res.body.dump();
    },
    stats,
    waitFor,
  };
}

function describeProgress(snapshot: ReceiverSnapshot, expected: Readonly<Record<string, number>>): string {
  return Object.entries(expected)
    .map(([name, n]) => `${name}: ${streamOf(snapshot, name).unique}/${n}`)
    .join(', ');
}
