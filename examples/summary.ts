import type { LineLog } from './delivery-request.js';
import type { ReceiverStats } from './receiver.js';

/** One row of `GET /v1/channels`, the fields the summary shows. */
interface ChannelRow {
  name: string;
  kind: string;
  depth: number;
  delivered: number;
  deadLettered: number;
  parkedKeys: number;
  stalledLanes: number;
}

/**
 * Waits until nothing is left to deliver except what waits for an operator (parked keys,
 * stalled subscriptions), or until `timeoutMs`, then prints one line per channel.
 */
export async function printSummaryWhenSettled(options: { baseUrl: string; timeoutMs: number; log: LineLog; signal: AbortSignal; receiver: () => ReceiverStats }): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  let rows = await fetchChannels(options.baseUrl);
  while (!options.signal.aborted && rows && !settled(rows) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    rows = await fetchChannels(options.baseUrl);
  }
  if (options.signal.aborted || !rows) return;
  const { log } = options;
  log(settled(rows) ? 'everything delivered that can be; what is left waits for you:' : 'still delivering (retries); so far:');
  log(`  ${'channel'.padEnd(30)} ${'delivered'.padStart(9)} ${'waiting'.padStart(8)} ${'dead'.padStart(5)}  blocked`);
  for (const row of rows.filter((r) => r.kind !== 'topic')) {
    const blocked = row.parkedKeys > 0 ? `${row.parkedKeys} key(s) parked` : row.stalledLanes > 0 ? `${row.stalledLanes} lane(s) stalled` : '';
    log(`  ${row.name.padEnd(30)} ${String(row.delivered).padStart(9)} ${String(row.depth).padStart(8)} ${String(row.deadLettered).padStart(5)}  ${blocked}`);
  }
  log(`  receiver checks: ${describeChecks(options.receiver())}`);
}

function settled(rows: readonly ChannelRow[]): boolean {
  return rows.every((r) => r.kind === 'topic' || r.depth === 0 || r.parkedKeys > 0 || r.stalledLanes > 0);
}

async function fetchChannels(baseUrl: string): Promise<ChannelRow[] | undefined> {
  try {
    const response = await fetch(`${baseUrl}/v1/channels`);
    if (!response.ok) return undefined;
    return ((await response.json()) as { items: ChannelRow[] }).items;
  } catch {
    return undefined;
  }
}

/** The ordering promises the receiver verified, e.g. `0 overlaps, 0 out of order, 0 gaps`. */
export function describeChecks(stats: ReceiverStats): string {
  const overlaps = stats.provisionings.overlaps + stats.readModels.overlaps + stats.billing.overlaps;
  const outOfOrder = stats.provisionings.outOfOrder + stats.readModels.outOfOrder + stats.billing.outOfOrder;
  const verdict = overlaps + outOfOrder + stats.readModels.gaps === 0 ? 'every ordering promise held' : 'ORDERING BROKEN (see ✗ lines above)';
  return `${overlaps} overlaps, ${outOfOrder} out of order, ${stats.readModels.gaps} gaps in the read model: ${verdict}`;
}
