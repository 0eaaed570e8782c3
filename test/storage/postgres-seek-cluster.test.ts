import { afterEach, describe, expect, it } from 'vitest';
import type { NewMessage } from '../../src/domain/message.js';
import type { ChannelDeclaration, Claim } from '../../src/storage/port.js';
import type { PostgresStore } from '../../src/storage/postgres/index.js';
import { postgresAvailable, waitForLockWait } from '../support/postgres.js';
import { usePostgresCluster } from '../support/postgres-cluster.js';

const available = await postgresAvailable();

const CHANNELS: ChannelDeclaration[] = [
  { name: 't', kind: 'topic' },
  { name: 't/a', kind: 'subscription', topic: 't', ordering: 'topic' },
  { name: 't/k', kind: 'subscription', topic: 't', ordering: 'key' },
];
const msg = (id: string, key: string | null = null): NewMessage => ({ id, key, type: 'x', data: '{}', metadata: {}, deliverAt: null });
const settlements = (claims: Claim[]) =>
  claims.flatMap((c) => c.deliveries.map((d) => ({
    deliveryId: d.deliveryId, epoch: d.epoch, decision: { kind: 'delivered' as const },
    attempt: { attempt: d.attempt, startedAt: Date.now(), durationMs: 1, statusCode: 200, error: null, response: null },
  })));

/** Seek on PostgreSQL with several instances: row locks, fencing, and one call per lane. */
describe.skipIf(!available)('PostgreSQL: seek with several instances', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  // The process clock on every instance (one process here), so lease times compare exactly with the test's.
  const cluster = usePostgresCluster(CHANNELS, { timeSource: 'clock' });

  it('waits for a transaction holding a lane of the subscription, then fences the claim it finds', async () => {
    const { schema, stores: [a, b], sql } = await cluster(2);
    await a!.send('t', [msg('e1'), msg('e2')]);
    const held = await a!.claim({ target: 't/a', limit: 1, owner: 'a', leaseMs: 30_000 });
    // What a settlement does first: lock the lane. The seek on the other instance must wait for it.
    await sql.query('BEGIN');
    await sql.query(`SELECT 1 FROM "${schema}".lanes WHERE lane = '' FOR UPDATE`);
    const seeking = b!.seek('t/a', { sequence: 1 });
    await waitForLockWait({ queryContains: `"${schema}".lanes` });
    await sql.query('COMMIT');
    expect(await seeking).toMatchObject({ sequence: 1, fenced: 1 });
    expect(await a!.settle(settlements(held))).toEqual(['fenced']);
    // One call per lane: the fenced call's lease is waited out on every instance.
    expect(await b!.claim({ target: 't/a', limit: 1, owner: 'b', leaseMs: 30_000 })).toEqual([]);
  });

  it('wakes the dispatchers of every instance for the subscription it moved', async () => {
    const { stores: [a, b] } = await cluster(2);
    const woken: string[][] = [];
    const stop = a!.onWake((targets) => woken.push(targets));
    cleanups.push(async () => stop());
    // The listening connection comes up in the background: seek until it hears one.
    for (let i = 0; !woken.some((w) => w.includes('t/k')); i++) {
      if (i === 200) throw new Error('no instance heard the seek');
      await b!.seek('t/k', { sequence: 1 });
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    expect(woken.find((w) => w.includes('t/k'))).toEqual(['t/k']);
  });

  it('instances claiming and settling while another seeks: never two calls of a lane at once, nothing lost', { timeout: 60_000 }, async () => {
    const { stores } = await cluster(3);
    const [seeker, ...workers] = stores as [PostgresStore, PostgresStore, PostgresStore];
    const LEASE = 400;
    const EVENTS = 60;
    await seeker.send('t', Array.from({ length: EVENTS }, (_, i) => msg(`e${i + 1}`, `k${i % 4}`)));
    /**
     * Every call, by the test's clock: its claim was made between `startedAt` and `returned`, and
     * the call is over at `endedAt` (when its settlement is sent), or, when that settlement was
     * fenced by a seek, not before its lease ends (the seek keeps the lane leased until then).
     */
    const calls: Array<{ lane: string; owner: string; startedAt: number; returned: number; endedAt: number; fenced: boolean }> = [];
    let seeking = true;
    async function work(store: PostgresStore, owner: string, target: string): Promise<void> {
      for (let round = 0; ; round++) {
        const startedAt = Date.now();
        const claims = await store.claim({ target, limit: 4, owner, leaseMs: LEASE, batchSize: target === 't/a' ? 5 : 1 });
        const returned = Date.now();
        if (claims.length === 0) {
          if (!seeking && (await store.stats()).find((s) => s.name === target)!.depth === 0) return;
          await new Promise((resolve) => setTimeout(resolve, 10));
          continue;
        }
        // Some calls outlive a seek (fenced); the others end now.
        if (round % 3 === 0) await new Promise((resolve) => setTimeout(resolve, 30));
        const endedAt = Date.now();
        const results = await store.settle(settlements(claims));
        claims.forEach((c, i) => calls.push({ lane: `${target} ${c.lane}`, owner, startedAt, returned, endedAt, fenced: results[i] === 'fenced' }));
      }
    }
    /** Two calls of a lane certainly at once: both claims had returned before either call was over. */
    function overlaps(): string[] {
      const end = (c: (typeof calls)[number]) => (c.fenced ? Math.max(c.endedAt, c.startedAt + LEASE) : c.endedAt);
      const found: string[] = [];
      calls.forEach((a, i) => {
        for (const b of calls.slice(i + 1)) {
          if (a.lane !== b.lane || (a.owner === b.owner && a.startedAt === b.startedAt)) continue;
          if (Math.max(a.returned, b.returned) < Math.min(end(a), end(b))) found.push(`${a.lane}: ${a.owner} and ${b.owner} held it at once`);
        }
      });
      return found;
    }
    const running = workers.flatMap((store, i) => [work(store, `w${i}`, 't/a'), work(store, `w${i}`, 't/k')]);
    const seeks: unknown[] = [];
    for (const sequence of [1, 30, 5, 45, 1]) {
      await new Promise((resolve) => setTimeout(resolve, 150));
      seeks.push(await seeker.seek('t/a', { sequence }), await seeker.seek('t/k', { sequence }));
    }
    seeking = false;
    await Promise.all(running);
    expect(overlaps()).toEqual([]);
    expect(seeks).toHaveLength(10);
    // Every event ended delivered, or skipped by a seek forward (kept, and counted as such).
    const stats = await seeker.stats();
    for (const name of ['t/a', 't/k']) {
      const kept = await seeker.listSkipped(name, { limit: EVENTS });
      expect(stats.find((s) => s.name === name)).toMatchObject({ depth: 0, inFlight: 0, skipped: kept.items.length });
    }
    for (let i = 1; i <= EVENTS; i++) {
      for (const d of (await seeker.getMessage(`e${i}`))[0]!.deliveries) expect(['delivered', 'skipped'], `e${i} on ${d.target}`).toContain(d.status);
    }
  });
});
