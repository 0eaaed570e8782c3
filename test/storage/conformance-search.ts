import { expect, it } from 'vitest';
import type { FakeClock } from '../../src/domain/clock.js';
import type { Decision } from '../../src/domain/decide.js';
import type { NewMessage } from '../../src/domain/message.js';
import type { MessageFilter, Store } from '../../src/storage/port.js';

/**
 * Conformance cases of the message explorer's search (`listMessages`), run inside
 * `describeStoreConformance` with its store (channels q, f, t, t/a, t/b declared) and clock.
 */
export function messageSearchCases(get: () => { store: Store; clock: FakeClock }): void {
  const msg = (id: string, extra: Partial<NewMessage> = {}): NewMessage => ({
    id, key: null, type: 'order.placed', data: JSON.stringify({ id }), metadata: {}, deliverAt: null, ...extra,
  });
  const search = async (filter: MessageFilter, limit = 50) => (await get().store.listMessages(filter, { limit })).items.map((i) => i.message.id);
  const settleAll = async (target: string, decision: Decision) => {
    const { store, clock } = get();
    const claims = await store.claim({ target, limit: 100, owner: 'o', leaseMs: 30_000 });
    await store.settle(claims.flatMap((c) => c.deliveries.map((d) => ({
      deliveryId: d.deliveryId, epoch: d.epoch, decision, attempt: { attempt: d.attempt, startedAt: clock.now(), durationMs: 3, statusCode: 500, error: null, response: null },
    }))));
  };

  it('lists messages newest first, page by page, with their deliveries', async () => {
    const { store, clock } = get();
    for (let i = 1; i <= 5; i++) {
      await store.send('q', [msg(`m${i}`)]);
      clock.advance(1000);
    }
    const first = await store.listMessages({}, { limit: 2 });
    expect(first.items.map((i) => i.message.id)).toEqual(['m5', 'm4']);
    expect(first.items[0]!.message).toMatchObject({ channel: 'q', type: 'order.placed', data: '{"id":"m5"}' });
    expect(first.items[0]!.deliveries).toEqual([expect.objectContaining({ target: 'q', status: 'queued', attempts: 0 })]);
    const second = await store.listMessages({}, { limit: 2, cursor: first.next });
    expect(second.items.map((i) => i.message.id)).toEqual(['m3', 'm2']);
    const last = await store.listMessages({}, { limit: 2, cursor: second.next });
    expect(last.items.map((i) => i.message.id)).toEqual(['m1']);
    expect(last.next).toBeNull();
    await expect(store.listMessages({}, { limit: 2, cursor: 'nope' })).rejects.toMatchObject({ code: 'invalid_request' });
  });

  it('filters by channel, key, type and creation time', async () => {
    const { store, clock } = get();
    const start = clock.now();
    await store.send('q', [msg('q1', { type: 'a' })]);
    clock.advance(1000);
    await store.send('f', [msg('f1', { key: 'k1' }), msg('f2', { key: 'k2', type: 'a' })]);
    clock.advance(1000);
    await store.send('t', [msg('e1', { key: 'k1' })]);
    expect(await search({ channel: 'f' })).toEqual(['f2', 'f1']);
    expect(await search({ key: 'k1' })).toEqual(['e1', 'f1']);
    expect(await search({ channel: 'f', key: 'k1' })).toEqual(['f1']);
    expect(await search({ type: 'a' })).toEqual(['f2', 'q1']);
    expect(await search({ since: start + 1000 })).toEqual(['e1', 'f2', 'f1']);
    expect(await search({ since: start + 1000, until: start + 2000 })).toEqual(['f2', 'f1']);
    expect(await search({ channel: 't/a' })).toEqual(['e1']);
    const [event] = (await store.listMessages({ channel: 't' }, { limit: 1 })).items;
    expect(event!.message.channel).toBe('t');
    expect(event!.deliveries.map((d) => d.target)).toEqual(['t/a', 't/b']);
  });

  it('filters by the status a user sees, on every adapter alike', async () => {
    const { store, clock } = get();
    await store.send('q', [msg('dead')]);
    await settleAll('q', { kind: 'deadletter', reason: 'HTTP 400' });
    await store.send('q', [msg('again')]);
    await settleAll('q', { kind: 'retry', availableAt: clock.now() + 60_000, reason: 'HTTP 500' });
    await store.send('q', [msg('ok'), msg('later', { deliverAt: clock.now() + 60_000 })]);
    await settleAll('q', { kind: 'delivered' });
    await store.send('q', [msg('waiting')]);
    await store.send('f', [msg('p1', { key: 'k' }), msg('p2', { key: 'k' })]);
    await settleAll('f', { kind: 'park', reason: 'HTTP 400' });
    await store.send('t', [msg('e1')]);
    await settleAll('t/a', { kind: 'stall', availableAt: clock.now() + 60_000, reason: 'HTTP 500' });

    expect(await search({ status: 'deadlettered' })).toEqual(['dead']);
    expect(await search({ status: 'retrying' })).toEqual(['again']);
    expect(await search({ status: 'delivered' })).toEqual(['ok']);
    expect(await search({ status: 'scheduled' })).toEqual(['later']);
    expect(await search({ status: 'parked' })).toEqual(['p1']);
    // The parked key's next message waits behind its head, untried.
    expect(await search({ status: 'queued', channel: 'f' })).toEqual(['p2']);
    expect(await search({ status: 'stalled' })).toEqual(['e1']);
    expect(await search({ status: 'queued' })).toEqual(['e1', 'p2', 'waiting']);
    expect(await search({ status: 'queued', channel: 't/a' })).toEqual([]);
    expect(await search({ status: 'queued', channel: 't/b' })).toEqual(['e1']);
    expect(await search({ status: 'skipped' })).toEqual([]);
    const [parked] = (await store.listMessages({ status: 'parked' }, { limit: 1 })).items;
    expect(parked!.deliveries[0]).toMatchObject({ target: 'f', status: 'parked', attempts: 1, lane: 'k', lastError: 'HTTP 400' });
  });

  it('looks at a bounded window of messages per page, and its pages together find every match once', async () => {
    const { store } = get();
    // Matches are the oldest two and one in the middle; the rest are other types.
    const types = ['a', 'a', 'b', 'b', 'b', 'a', 'b', 'b', 'b', 'b', 'b'];
    await store.send('q', types.map((type, i) => msg(`w${i}`, { type })));
    const pages: Array<{ ids: string[]; next: string | null }> = [];
    let cursor: string | null = null;
    do {
      const page = await store.listMessages({ type: 'a' }, { limit: 2, cursor, examine: 3 });
      pages.push({ ids: page.items.map((i) => i.message.id), next: page.next });
      cursor = page.next;
    } while (cursor !== null && pages.length < 20);
    expect(pages.flatMap((p) => p.ids)).toEqual(['w5', 'w1', 'w0']);
    // Eleven messages, three looked at per page: at least four pages, and the newest (three 'b's) found nothing yet went on.
    expect(pages.length).toBeGreaterThanOrEqual(4);
    expect(pages[0]).toEqual({ ids: [], next: expect.any(String) });
    expect(pages.every((p) => p.ids.length <= 2)).toBe(true);
    expect(pages.at(-1)!.next).toBeNull();
    // Without a window the default one covers them all, and a full page still continues by cursor.
    const first = await store.listMessages({ type: 'a' }, { limit: 2 });
    expect(first.items.map((i) => i.message.id)).toEqual(['w5', 'w1']);
    const rest = await store.listMessages({ type: 'a' }, { limit: 2, cursor: first.next });
    expect(rest.items.map((i) => i.message.id)).toEqual(['w0']);
    expect(rest.next).toBeNull();
  });
}
