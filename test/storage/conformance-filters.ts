import { describe, expect, it } from 'vitest';
import type { FakeClock } from '../../src/domain/clock.js';
import type { NewMessage } from '../../src/domain/message.js';
import { matchesFilter, type SubscriptionFilter } from '../../src/domain/subscription-filter.js';
import type { ChannelDeclaration, Claim, Store } from '../../src/storage/port.js';
import type { ConformanceHarness } from './conformance-agreement.js';
import { useConformanceStore } from './conformance-fixture.js';

const TOPIC: ChannelDeclaration = { name: 'ft', kind: 'topic' };
const ORDERS: ChannelDeclaration = { name: 'ft/orders', kind: 'subscription', topic: 'ft', ordering: 'topic', filter: { types: ['OrderPlaced', 'Order*'] } };
const EU: ChannelDeclaration = { name: 'ft/eu', kind: 'subscription', topic: 'ft', ordering: 'key', filter: { types: ['*'], keys: ['eu-*'] } };
const ALL: ChannelDeclaration = { name: 'ft/all', kind: 'subscription', topic: 'ft', ordering: 'topic' };
/** Every character the stores' pattern languages treat specially, except `*`, must stand for itself. */
const LITERAL: ChannelDeclaration = { name: 'ft/literal', kind: 'subscription', topic: 'ft', ordering: 'topic', filter: { types: ['a_b%c?d[e]\\*'] } };
const QUIET: ChannelDeclaration[] = [{ name: 'fx', kind: 'topic' }, { name: 'fx/only', kind: 'subscription', topic: 'fx', filter: { types: ['Wanted'] } }];
const FILTER_CHANNELS = [TOPIC, ORDERS, EU, ALL, LITERAL, ...QUIET];

/** Subscription filters: matched at publish, so a non-matching event has no delivery at all on that subscription. */
export function describeFilterConformance(adapter: string, harness: ConformanceHarness): void {
  describe(`storage conformance: ${adapter}: subscription filters`, () => {
    let clock: FakeClock;
    let store: Store;
    useConformanceStore(harness.open, (s, c) => {
      store = s;
      clock = c;
    }, FILTER_CHANNELS);

    const event = (id: string, type: string, key: string | null = null): NewMessage => ({ id, key, type, data: '{}', metadata: {}, deliverAt: null });
    const claim = (target: string, limit = 10) => store.claim({ target, limit, owner: 'o1', leaseMs: 30_000 });
    const attempt = () => ({ attempt: 1, startedAt: clock.now(), durationMs: 1, statusCode: 200, error: null, response: null });
    const settle = (claims: Claim[]) =>
      store.settle(claims.flatMap((c) => c.deliveries.map((d) => ({ deliveryId: d.deliveryId, epoch: d.epoch, decision: { kind: 'delivered' as const }, attempt: attempt() }))));
    const targetsOf = async (id: string) => ((await store.getMessage(id, 'ft'))[0]?.deliveries ?? []).map((d) => d.target).sort();
    const depth = async (name: string) => (await store.stats()).find((s) => s.name === name)!.depth;
    /** Delivers a subscription one claim at a time, returning the ids with their lane positions. */
    const drain = async (target: string) => {
      const seen: Array<[string, number | undefined]> = [];
      for (let claims = await claim(target); claims.length > 0; claims = await claim(target)) {
        seen.push(...claims.flatMap((c) => c.deliveries.map((d): [string, number | undefined] => [d.message.id, d.lanePosition?.position])));
        await settle(claims);
      }
      return seen;
    };

    it('creates no delivery for a non-matching event, counts only matches in depth, keeps order and gap-free lane positions', async () => {
      await store.send('ft', [event('e1', 'OrderPlaced', 'eu-1'), event('e2', 'UserCreated', 'eu-1'), event('e3', 'OrderShipped', 'us-1'), event('e4', 'Order', null)]);
      expect(await targetsOf('e1')).toEqual(['ft/all', 'ft/eu', 'ft/orders']);
      expect(await targetsOf('e2')).toEqual(['ft/all', 'ft/eu']);
      expect(await targetsOf('e3')).toEqual(['ft/all', 'ft/orders']);
      expect(await targetsOf('e4')).toEqual(['ft/all', 'ft/orders']);
      expect(await depth('ft/orders')).toBe(3);
      expect(await depth('ft/eu')).toBe(2);
      expect(await depth('ft/all')).toBe(4);
      expect(await depth('ft/literal')).toBe(0);
      expect(await drain('ft/orders')).toEqual([['e1', 1], ['e3', 2], ['e4', 3]]);
      expect(await drain('ft/eu')).toEqual([['e1', 1], ['e2', 2]]);
      expect(await depth('ft/orders')).toBe(0);
      expect((await store.stats()).find((s) => s.name === 'ft/orders')).toMatchObject({ filter: { types: ['OrderPlaced', 'Order*'] }, delivered: 3 });
      expect((await store.stats()).find((s) => s.name === 'ft/all')!.filter).toBeUndefined();
    });

    it('matches patterns literally but for *, whole values and case', async () => {
      await store.send('ft', [
        event('hit', 'a_b%c?d[e]\\'), event('hit-longer', 'a_b%c?d[e]\\zz'), event('underscore', 'aXb%c?d[e]\\'), event('percent', 'a_bXYc?d[e]\\'),
        event('question', 'a_b%cXd[e]\\'), event('class', 'a_b%c?de\\'), event('backslash', 'a_b%c?d[e]%'), event('case', 'A_b%c?d[e]\\'),
      ]);
      expect((await drain('ft/literal')).map(([id]) => id)).toEqual(['hit', 'hit-longer']);
      await store.send('ft', [event('o1', 'orderplaced'), event('o2', 'XOrderPlaced')]);
      expect(await depth('ft/orders')).toBe(0);
    });

    it('agrees with the domain rule on generated patterns and values, wildcard look-alikes included', async () => {
      let seed = 7;
      const next = (n: number) => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) % n;
      const text = (alphabet: string, max: number) => Array.from({ length: 1 + next(max) }, () => alphabet[next(alphabet.length)]).join('');
      const filters: SubscriptionFilter[] = Array.from({ length: 16 }, () => ({
        types: Array.from({ length: 1 + next(2) }, () => text('ab*%_?[]\\', 4)),
        ...(next(3) === 0 ? { keys: [text('ab*_%', 3)] } : {}),
      }));
      const subs = filters.map((filter, i): ChannelDeclaration => ({ name: `gen/s${i}`, kind: 'subscription', topic: 'gen', ordering: 'topic', filter }));
      await store.declare([...FILTER_CHANNELS, { name: 'gen', kind: 'topic' }, ...subs]);
      const events = Array.from({ length: 60 }, (_, i) => event(`g${i}`, text('ab*%_?[]\\', 5), next(4) === 0 ? null : text('ab*_%', 3)));
      await store.send('gen', events);
      let matched = 0;
      for (const e of events) {
        const expected = subs.filter((_, i) => matchesFilter(filters[i], e.type, e.key)).map((sub) => sub.name).sort();
        matched += expected.length;
        const got = ((await store.getMessage(e.id, 'gen'))[0]?.deliveries ?? []).map((d) => d.target).sort();
        expect(got, `${e.type} / ${e.key}`).toEqual(expected);
      }
      // The seed gives both matches and misses, so neither an everything nor a nothing store passes.
      expect(matched).toBe(65);
    });

    it('keeps skip and retry of a filtered subscription working among its own events', async () => {
      await store.send('ft', [event('e1', 'OrderPlaced'), event('x1', 'UserCreated'), event('e2', 'OrderPlaced'), event('e3', 'OrderPlaced')]);
      const first = await claim('ft/orders');
      await store.settle(first.flatMap((c) => c.deliveries.map((d) => ({ deliveryId: d.deliveryId, epoch: d.epoch, decision: { kind: 'stall' as const, availableAt: clock.now() + 60_000, reason: 'HTTP 500' }, attempt: attempt() }))));
      expect(await claim('ft/orders')).toEqual([]);
      expect((await store.skipLaneHead('ft/orders', ''))!.message.id).toBe('e1');
      expect(await drain('ft/orders')).toEqual([['e2', 1], ['e3', 2]]);
    });

    it('applies a changed filter to events published after the change, on every instance', async () => {
      await store.send('ft', [event('before', 'UserCreated')]);
      await store.declare([TOPIC, { ...ORDERS, filter: { types: ['User*'] } }, EU, ALL, LITERAL, ...QUIET]);
      const peer = await harness.peer(store, clock);
      try {
        await peer.send('ft', [event('after-user', 'UserCreated'), event('after-order', 'OrderPlaced')]);
      } finally {
        await peer.close();
      }
      expect(await targetsOf('before')).not.toContain('ft/orders');
      expect(await targetsOf('after-user')).toContain('ft/orders');
      expect(await targetsOf('after-order')).not.toContain('ft/orders');
      expect((await store.stats()).find((s) => s.name === 'ft/orders')!.filter).toEqual({ types: ['User*'] });
      // Declared without a filter: every later event.
      await store.declare([TOPIC, { ...ORDERS, filter: undefined }, EU, ALL, LITERAL, ...QUIET]);
      await store.send('ft', [event('unfiltered', 'Anything')]);
      expect(await targetsOf('unfiltered')).toContain('ft/orders');
      expect((await store.stats()).find((s) => s.name === 'ft/orders')!.filter).toBeUndefined();
      expect(await drain('ft/orders')).toEqual([['after-user', 1], ['unfiltered', 2]]);
    });

    it('a restart declaring the same channels changes nothing: filters, sequences and waiting events stay', async () => {
      await store.send('ft', [event('e1', 'OrderPlaced'), event('e2', 'UserCreated')]);
      const before = await store.stats();
      await store.declare([...FILTER_CHANNELS]);
      await store.send('ft', [event('e3', 'OrderPlaced')]);
      expect(await targetsOf('e3')).toContain('ft/orders');
      const after = (await store.stats()).find((s) => s.name === 'ft/orders')!;
      expect(after.filter).toEqual(before.find((s) => s.name === 'ft/orders')!.filter);
      expect(after.depth).toBe(before.find((s) => s.name === 'ft/orders')!.depth + 1);
      expect((await store.stats()).find((s) => s.name === 'ft')!.lastSequence).toBe(3);
      expect(await drain('ft/orders')).toEqual([['e1', 1], ['e3', 2]]);
    });

    it('backfills a new subscription from the beginning with the matching events only', async () => {
      await store.send('ft', [event('e1', 'OrderPlaced', 'eu-1'), event('e2', 'UserCreated', 'eu-2'), event('e3', 'OrderPaid', 'us-1')]);
      await store.declare([...FILTER_CHANNELS, { name: 'ft/late', kind: 'subscription', topic: 'ft', ordering: 'key', startFrom: 'beginning', filter: { types: ['Order*'], keys: ['eu-1', 'us-*'] } }]);
      expect(await depth('ft/late')).toBe(2);
      expect((await drain('ft/late')).map(([id]) => id).sort()).toEqual(['e1', 'e3']);
    });

    it('finds an event no subscription took, with no deliveries', async () => {
      await store.send('fx', [event('lonely', 'Unwanted'), event('wanted', 'Wanted')]);
      const [view, ...rest] = await store.getMessage('lonely');
      expect(rest).toEqual([]);
      expect(view).toMatchObject({ message: { id: 'lonely', channel: 'fx', type: 'Unwanted', sequence: 1 }, deliveries: [] });
      expect(await store.getMessage('lonely', 'fx')).toHaveLength(1);
      expect(await store.getMessage('lonely', 'ft')).toEqual([]);
      expect((await store.getMessage('wanted'))[0]!.deliveries.map((d) => d.target)).toEqual(['fx/only']);
      expect(await depth('fx/only')).toBe(1);
      // Sent again, it is a duplicate answered like any other topic event: with its sequence.
      expect(await store.send('fx', [event('lonely', 'Unwanted'), event('wanted', 'Wanted')])).toEqual([
        { id: 'lonely', status: 'delivered', duplicate: true, sequence: 1 },
        { id: 'wanted', status: 'queued', duplicate: true, sequence: 2 },
      ]);
    });

    it('applies filters to events written through the outbox', async () => {
      await harness.sendWithin(store, 'ft', [event('o1', 'OrderPlaced', 'us-1'), event('o2', 'UserCreated', 'eu-1')], 'commit');
      expect(await targetsOf('o1')).toEqual(['ft/all', 'ft/orders']);
      expect(await targetsOf('o2')).toEqual(['ft/all', 'ft/eu']);
      expect(await depth('ft/orders')).toBe(1);
      expect(await depth('ft/eu')).toBe(1);
      expect(await drain('ft/orders')).toEqual([['o1', 1]]);
    });
  });
}
