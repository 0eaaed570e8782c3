import { call } from './api.js';
import { sleep } from './timing.js';
import { BILLING, FIFO, PROJECTOR, QUEUE, TOPIC } from './workloads.js';

/** What the operator did, for progress lines and the verdict. */
export interface OperatorCounts {
  parkedRetries: number;
  redriven: number;
  stalledRetries: number;
  /** Rounds that failed because the chosen instance was down; the next round tries again. */
  missedRounds: number;
}

export interface Operator {
  counts(): Readonly<OperatorCounts>;
  /** Stops after the current round. */
  stop(): Promise<void>;
}

/**
 * Plays the on-call engineer through the HTTP API: retries parked fifo keys, redrives dead
 * letters and retries stalled subscription lanes, the actions SPEC §1 leaves to an operator.
 * The poisoned messages need exactly this to be delivered, so a broken operator route shows
 * up as lost messages.
 */
export function startOperator(pickUrl: () => string | undefined, everyMs: number): Operator {
  const counts: OperatorCounts = { parkedRetries: 0, redriven: 0, stalledRetries: 0, missedRounds: 0 };
  const stopper = new AbortController();
  const loop = (async () => {
    while (!stopper.signal.aborted) {
      await sleep(everyMs, stopper.signal);
      const url = pickUrl();
      if (!url || stopper.signal.aborted) continue;
      await round(url, counts).catch(() => counts.missedRounds++);
    }
  })();
  return {
    counts: () => ({ ...counts }),
    stop: async () => {
      stopper.abort();
      await loop;
    },
  };
}

async function round(url: string, counts: OperatorCounts): Promise<void> {
  const parked = await items(url, `/v1/queues/${FIFO}/parked`);
  for (const lane of parked) {
    if (lane.state !== 'parked') continue;
    const answer = await call(url, 'POST', `/v1/queues/${FIFO}/parked/${encodeURIComponent(lane.key)}/retry`);
    if (answer.status === 200) counts.parkedRetries++;
  }
  const dead = await items(url, `/v1/queues/${QUEUE}/deadletters?limit=1000`);
  if (dead.length > 0) {
    const answer = await call(url, 'POST', `/v1/queues/${QUEUE}/deadletters/redrive`);
    const redriven = (answer.body as { redriven?: unknown } | null)?.redriven;
    if (answer.status === 200 && typeof redriven === 'number') counts.redriven += redriven;
  }
  for (const sub of [PROJECTOR, BILLING]) {
    const view = await call(url, 'GET', `/v1/topics/${TOPIC}/subscriptions/${sub}`);
    const lanes = ((view.body as { blockedLanes?: unknown } | null)?.blockedLanes ?? []) as LaneItem[];
    for (const lane of lanes) {
      if (lane.state !== 'stalled') continue;
      const query = lane.key ? `?key=${encodeURIComponent(lane.key)}` : '';
      const answer = await call(url, 'POST', `/v1/topics/${TOPIC}/subscriptions/${sub}/retry${query}`);
      if (answer.status === 200) counts.stalledRetries++;
    }
  }
}

interface LaneItem {
  key: string;
  state: string;
}

async function items(url: string, path: string): Promise<LaneItem[]> {
  const answer = await call(url, 'GET', path);
  if (answer.status !== 200) throw new Error(`GET ${path} answered ${answer.status}`);
  return ((answer.body as { items?: unknown } | null)?.items ?? []) as LaneItem[];
}
