/**
 * Store-level cost of the SQLite adapter, without HTTP: a backlog is sent in batches of 500, then
 * drained by one loop that claims 32 and settles them with the claim of the next 32, as a
 * dispatcher's steps do (`--kind topic`: published to a topic with 3 topic-ordered subscriptions,
 * each drained in turn by claims of its lane's next 32: 3 deliveries per message). Two figures:
 *
 *   node --import tsx bench/sqlite-store.ts [--kind queue|fifo|topic] [--messages 20000] [--runs 5]
 *     CPU time of the main thread per delivered message (from /proc: the WAL checkpoint thread
 *     is left out), median of the runs. It moves by 20% or more between runs on a shared machine.
 *
 *   node --import tsx bench/sqlite-store.ts --instructions [--kind queue|fifo|topic]
 *     Instructions per message sent, claimed and settled (a topic's: published, and claimed and
 *     settled by each subscription), counted by valgrind (cachegrind): one
 *     run of 2,000 and one of 20,000 messages, the difference divided by 18,000, which leaves out
 *     start-up and compilation. The count hardly moves between runs (a few per cent, from the
 *     garbage collector), so a change to a statement shows even when it is smaller than the noise
 *     of CPU time. Needs `valgrind` on the PATH; it takes a few minutes.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { Claim, ClaimRequest, Settlement } from '../src/storage/port.js';
import { createSqliteStore } from '../src/storage/sqlite/sqlite-store.js';

const { values } = parseArgs({
  options: {
    kind: { type: 'string', default: 'queue' },
    messages: { type: 'string', default: '20000' },
    runs: { type: 'string', default: '5' },
    instructions: { type: 'boolean', default: false },
  },
});
const KIND = values.kind === 'fifo' || values.kind === 'topic' ? values.kind : 'queue';
/** Where the backlog is sent, and the targets that deliver it. */
const CHANNEL = KIND === 'topic' ? 't' : 'q';
const TARGETS = KIND === 'topic' ? ['t/a', 't/b', 't/c'] : ['q'];
const MESSAGES = Number(values.messages);

/** CPU seconds of this process's main thread (Linux). */
function mainThreadCpu(): number {
  const fields = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

const delivered = (claims: Claim[]): Settlement[] => claims.flatMap((c) => c.deliveries.map((d) => ({
  deliveryId: d.deliveryId, epoch: d.epoch, decision: { kind: 'delivered' as const }, result: null,
  attempt: { attempt: d.attempt, startedAt: Date.now(), durationMs: 1, statusCode: 200, error: null, response: null },
})));

/** Sends the backlog, drains it; returns the main thread's CPU seconds of the drain. */
async function run(): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'offload-sqlite-store-'));
  const store = createSqliteStore({ path: join(dir, 'bench.db') });
  try {
    await store.declare(KIND === 'topic'
      ? [{ name: 't', kind: 'topic' }, ...TARGETS.map((name) => ({ name, kind: 'subscription' as const, topic: 't', ordering: 'topic' as const }))]
      : [{ name: 'q', kind: KIND }]);
    for (let i = 0; i < MESSAGES; i += 500) {
      await store.send(CHANNEL, Array.from({ length: Math.min(500, MESSAGES - i) }, (_, k) => ({
        id: `m${i + k}`, key: KIND === 'fifo' ? `k${(i + k) % 500}` : null, type: 'bench.event',
        data: JSON.stringify({ n: i + k, pad: 'x'.repeat(250) }), metadata: {}, deliverAt: null,
      })));
    }
    const started = mainThreadCpu();
    let done = 0;
    for (const target of TARGETS) {
      // A subscription has one lane (topic-ordered): its claim takes the lane's next 32 in order.
      const next: ClaimRequest = KIND === 'topic' ? { target, limit: 1, batchSize: 32, owner: 'bench', leaseMs: 60_000 } : { target, limit: 32, owner: 'bench', leaseMs: 60_000 };
      let claims = await store.claim(next);
      while (claims.length > 0) {
        done += claims.reduce((n, c) => n + c.deliveries.length, 0);
        claims = (await store.settleAndClaim(delivered(claims), next)).claims;
      }
    }
    if (done !== MESSAGES * TARGETS.length) throw new Error(`drained ${done} of ${MESSAGES * TARGETS.length}`);
    return mainThreadCpu() - started;
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Instructions of a whole run of this script with `messages`, counted by cachegrind (its summary is on stderr). */
function instructions(messages: number): number {
  const script = fileURLToPath(import.meta.url);
  const result = spawnSync('valgrind', ['--tool=cachegrind', '--cache-sim=no', '--cachegrind-out-file=/dev/null', process.execPath, '--import', 'tsx', script,
    '--kind', KIND, '--messages', String(messages), '--runs', '1'], { encoding: 'utf8' });
  if (result.error) throw new Error((result.error as { code?: string }).code === 'ENOENT' ? '--instructions needs valgrind on the PATH' : String(result.error));
  const count = /I\s+refs:\s+([\d,]+)/.exec(result.stderr)?.[1];
  if (result.status !== 0 || count === undefined) throw new Error(`the run under valgrind failed: ${result.stderr.slice(-2_000)}`);
  return Number(count.replaceAll(',', ''));
}

if (values.instructions) {
  const small = 2_000;
  const large = 20_000;
  const perMessage = (instructions(large) - instructions(small)) / (large - small);
  console.log(`${KIND}: ${Math.round(perMessage).toLocaleString('en-US')} instructions per message sent, claimed and settled${KIND === 'topic' ? ' by 3 subscriptions' : ''}`);
} else {
  const cpu: number[] = [];
  for (let i = 0; i < Number(values.runs); i++) cpu.push((await run()) * 1e6 / (MESSAGES * TARGETS.length));
  const sorted = [...cpu].sort((a, b) => a - b);
  console.log(`${KIND}: ${sorted[sorted.length >> 1]!.toFixed(1)} µs of the main thread's CPU per delivery (median; runs ${cpu.map((c) => c.toFixed(0)).join(', ')})`);
}

