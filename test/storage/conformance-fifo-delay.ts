import { describe, expect, it } from 'vitest';
import type { FakeClock } from '../../src/domain/clock.js';
import type { NewMessage } from '../../src/domain/message.js';
import type { Claim, Store } from '../../src/storage/port.js';
import { useConformanceStore } from './conformance-fixture.js';

/** Delayed messages on a fifo queue: a key waits for its head's time, and nothing of the key overtakes it. */
export function describeFifoDelayConformance(adapter: string, open: (clock: FakeClock) => Promise<Store>): void {
  describe(`storage conformance: ${adapter}: fifo deliverAt`, () => {
    let clock: FakeClock;
    let store: Store;
    useConformanceStore(open, (s, c) => {
      store = s;
      clock = c;
    });

    const msg = (id: string, key: string, deliverAt: number | null = null): NewMessage => ({ id, key, type: 'test.happened', data: '{}', metadata: {}, deliverAt });
    const claim = () => store.claim({ target: 'f', limit: 10, owner: 'o1', leaseMs: 30_000 });
    const ids = (claims: Claim[]) => claims.flatMap((c) => c.deliveries.map((d) => d.message.id)).sort();
    const settle = (claims: Claim[]) =>
      store.settle(claims.flatMap((c) => c.deliveries.map((d) => ({
        deliveryId: d.deliveryId, epoch: d.epoch, decision: { kind: 'delivered' as const }, attempt: { attempt: d.attempt, startedAt: clock.now(), durationMs: 1, statusCode: 200, error: null, response: null },
      }))));
    const status = async (id: string) => (await store.getMessage(id))[0]!.deliveries[0]!.status;

    it('holds a key until its head is due; later messages of the key wait behind it, other keys go on', async () => {
      const at = clock.now() + 10_000;
      const sent = await store.send('f', [msg('k1', 'k', at), msg('k2', 'k'), msg('o1', 'other')]);
      expect(sent.map((r) => r.status)).toEqual(['scheduled', 'queued', 'queued']);
      const first = await claim();
      expect(ids(first)).toEqual(['o1']);
      await settle(first);
      expect(await status('k1')).toBe('scheduled');
      expect(await store.nextWakeAt('f')).toBe(at);
      clock.advance(9_999);
      expect(await claim()).toEqual([]);
      // Hurrying retries (a drain's skipBackoff) leaves a deliverAt as it is.
      expect(await store.hurryRetries(['f'])).toBe(0);
      expect(await claim()).toEqual([]);
      clock.advance(1);
      const head = await claim();
      expect(head.flatMap((c) => c.deliveries.map((d) => [d.message.id, d.lanePosition?.position]))).toEqual([['k1', 1]]);
      expect(await claim()).toEqual([]);
      await settle(head);
      const next = await claim();
      expect(next.flatMap((c) => c.deliveries.map((d) => [d.message.id, d.lanePosition?.position]))).toEqual([['k2', 2]]);
    });

    it('makes a key wait for a delayed message sent behind a due head, and keeps what follows it behind', async () => {
      await store.send('f', [msg('k1', 'k')]);
      const at = clock.now() + 5_000;
      await store.send('f', [msg('k2', 'k', at), msg('k3', 'k', clock.now() + 1_000), msg('k4', 'k')]);
      const first = await claim();
      expect(ids(first)).toEqual(['k1']);
      await settle(first);
      expect(await claim()).toEqual([]);
      expect(await store.nextWakeAt('f')).toBe(at);
      clock.advance(4_999);
      // k3's own time has passed, but it is behind k2.
      expect(await claim()).toEqual([]);
      clock.advance(1);
      for (const expected of ['k2', 'k3', 'k4']) {
        const claims = await claim();
        expect(ids(claims)).toEqual([expected]);
        await settle(claims);
      }
      expect(await claim()).toEqual([]);
    });

    it('a claim of several from a key takes a delayed message behind a due head; given back untried, it keeps its deliverAt', async () => {
      const at = clock.now() + 5_000;
      await store.send('f', [msg('k1', 'k'), msg('k2', 'k', at)]);
      const taken = await store.claim({ target: 'f', limit: 10, owner: 'o1', leaseMs: 30_000, batchSize: 5 });
      expect(taken.flatMap((c) => c.deliveries.map((d) => d.message.id))).toEqual(['k1', 'k2']);
      const [k1, k2] = taken[0]!.deliveries;
      await settle([{ ...taken[0]!, deliveries: [k1!] }]);
      await store.release([{ deliveryId: k2!.deliveryId, epoch: k2!.epoch }]);
      expect(await status('k2')).toBe('scheduled');
      expect(await claim()).toEqual([]);
      expect(await store.nextWakeAt('f')).toBe(at);
      clock.advance(4_999);
      expect(await claim()).toEqual([]);
      clock.advance(1);
      const due = await claim();
      expect(due.flatMap((c) => c.deliveries.map((d) => [d.message.id, d.attempt]))).toEqual([['k2', 1]]);
    });
  });
}
