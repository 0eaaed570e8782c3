import { describe, expect, it } from 'vitest';
import type { FakeClock } from '../../src/domain/clock.js';
import type { Decision } from '../../src/domain/decide.js';
import { DELIVERY_EVENTS, DELIVERY_TRANSITIONS, nextLaneState, type DeliveryEvent, type DeliveryState, type LaneState } from '../../src/domain/delivery-state.js';
import type { MessageStatus } from '../../src/domain/message.js';
import { newMessage } from '../../src/domain/message.js';
import type { ChannelDeclaration, Claim, DeliveryView, Store } from '../../src/storage/port.js';
import { useConformanceStore } from './conformance-fixture.js';

/** The stored state behind a public status (every `ready` delivery shows as one of several statuses). */
function storedStateOf(status: MessageStatus): DeliveryState {
  return status === 'delivering' || status === 'delivered' || status === 'deadlettered' || status === 'skipped' ? status : 'ready';
}

/**
 * Conformance of each adapter to the transition table in `src/domain/delivery-state.ts`: every
 * event of the table is carried out through the port, and the delivery's state, attempts and
 * lane afterwards are the ones the table says.
 */
export function describeTransitionConformance(adapter: string, open: (clock: FakeClock) => Promise<Store>): void {
  describe(`storage conformance: ${adapter}: delivery transitions`, () => {
    let clock: FakeClock;
    let store: Store;
    const LEASE = 30_000;
    const channels: ChannelDeclaration[] = [
      { name: 'q', kind: 'queue' },
      { name: 'f', kind: 'fifo' },
      { name: 't', kind: 'topic' },
      { name: 't/a', kind: 'subscription', topic: 't', ordering: 'topic' },
    ];
    useConformanceStore(open, (s, c) => {
      store = s;
      clock = c;
    }, channels);

    const target = (channel: string) => (channel === 't' ? 't/a' : channel);
    const send = (channel: string, id: string) => store.send(channel, [newMessage({ id, key: channel === 'f' ? 'k' : null, type: 'x', data: {} })]);
    const claim = (channel: string, owner = 'o1') => store.claim({ target: target(channel), limit: 1, owner, leaseMs: LEASE });
    const view = async (id: string): Promise<DeliveryView | undefined> => (await store.getMessage(id))[0]?.deliveries[0];
    const laneState = async (channel: string): Promise<LaneState | 'none'> => (channel === 'q' ? 'none' : ((await store.getLane(target(channel), channel === 'f' ? 'k' : ''))?.state ?? 'none'));
    const decide = async (claims: Claim[], decision: Decision) => {
      const d = claims[0]!.deliveries[0]!;
      return store.settle([{ deliveryId: d.deliveryId, epoch: d.epoch, decision, attempt: { attempt: d.attempt, startedAt: clock.now(), durationMs: 1, statusCode: 500, error: null, response: null }, result: null }]);
    };

    /** Puts message `id` of `channel` into the given stored state (one message in its lane). */
    async function into(state: 'ready' | 'delivering' | 'delivered' | 'deadlettered' | 'parked' | 'waiting-retry', channel: string, id: string): Promise<Claim[]> {
      await send(channel, id);
      if (state === 'ready') return [];
      const claims = await claim(channel);
      if (state === 'delivering') return claims;
      const decision: Decision =
        state === 'delivered' ? { kind: 'delivered' }
          : state === 'deadlettered' ? { kind: 'deadletter', reason: 'HTTP 400' }
            : state === 'parked' ? { kind: 'park', reason: 'HTTP 400' }
              : { kind: 'retry', availableAt: clock.now() + 5_000, reason: 'HTTP 500' };
      await decide(claims, decision);
      return claims;
    }

    /** Applies `event` to message `id` and checks the result against the table. */
    async function check(event: DeliveryEvent, channel: string, id: string, act: () => Promise<unknown>): Promise<void> {
      const before = await view(id);
      const from: DeliveryState | 'new' = before ? storedStateOf(before.status) : 'new';
      const laneBefore = await laneState(channel);
      const rule = DELIVERY_TRANSITIONS[event];
      expect(rule.from, `${event} from ${from}`).toContain(from);
      await act();
      const after = await view(id);
      if (rule.to === 'deleted') {
        expect(after, `${event} deletes the delivery`).toBeUndefined();
        return;
      }
      expect(after, `${event} keeps the delivery`).toBeDefined();
      expect(storedStateOf(after!.status), `${event}: ${from} -> ${rule.to}`).toBe(rule.to);
      const attemptsBefore = before?.attempts ?? 0;
      const expected = { zero: 0, 'plus-one': attemptsBefore + 1, 'minus-one': attemptsBefore - 1, same: attemptsBefore, restart: 0 }[rule.attempts];
      expect(after!.attempts, `${event}: attempts ${rule.attempts}`).toBe(expected);
      if (channel !== 'q') {
        const live = after!.availableAt !== null;
        const expectedLane = nextLaneState(laneBefore, event, live);
        if (expectedLane !== undefined) expect(await laneState(channel), `${event}: lane ${laneBefore} -> ${expectedLane ?? 'deleted'}`).toBe(expectedLane ?? 'none');
      }
    }

    const cases: Record<DeliveryEvent, () => Promise<void>> = {
      send: () => check('send', 'f', 'm1', () => send('f', 'm1')),
      claim: async () => {
        await into('ready', 'f', 'm1');
        await check('claim', 'f', 'm1', () => claim('f'));
      },
      'decide:delivered': async () => {
        const claims = await into('delivering', 'f', 'm1');
        await check('decide:delivered', 'f', 'm1', () => decide(claims, { kind: 'delivered' }));
      },
      'decide:retry': async () => {
        const claims = await into('delivering', 'f', 'm1');
        await check('decide:retry', 'f', 'm1', () => decide(claims, { kind: 'retry', availableAt: clock.now() + 1_000, reason: 'HTTP 500' }));
      },
      'decide:stall': async () => {
        const claims = await into('delivering', 't', 'e1');
        await check('decide:stall', 't', 'e1', () => decide(claims, { kind: 'stall', availableAt: clock.now() + 60_000, reason: 'HTTP 500' }));
      },
      'decide:park': async () => {
        const claims = await into('delivering', 'f', 'm1');
        await check('decide:park', 'f', 'm1', () => decide(claims, { kind: 'park', reason: 'HTTP 400' }));
      },
      'decide:deadletter': async () => {
        const claims = await into('delivering', 'q', 'm1');
        await check('decide:deadletter', 'q', 'm1', () => decide(claims, { kind: 'deadletter', reason: 'HTTP 400' }));
      },
      'lease-expiry': async () => {
        const claims = await into('delivering', 'f', 'm1');
        await check('lease-expiry', 'f', 'm1', async () => clock.advance(LEASE + 1));
        // The next claim takes it over; the old holder's settlement is fenced.
        await check('claim', 'f', 'm1', () => claim('f', 'o2'));
        expect(await decide(claims, { kind: 'delivered' })).toEqual(['fenced']);
      },
      defer: async () => {
        const claims = await into('delivering', 'f', 'm1');
        const d = claims[0]!.deliveries[0]!;
        await check('defer', 'f', 'm1', () => store.defer([d], clock.now() + 60_000, clock.now() + 60_000 + LEASE));
        // Held: the lease outlives the call's own, and the lane is not claimable meanwhile.
        clock.advance(LEASE + 1);
        expect(await claim('f', 'o2')).toEqual([]);
      },
      'async-timeout': async () => {
        const claims = await into('delivering', 'f', 'm1');
        const d = claims[0]!.deliveries[0]!;
        await store.defer([d], clock.now() + 1_000, clock.now() + 1_000 + LEASE);
        clock.advance(1_001);
        await check('async-timeout', 'f', 'm1', () => store.expireDeferred({ target: 'f', owner: 'o2', leaseMs: LEASE, limit: 10 }));
        // Taken over: the deferred holder's settlement is fenced.
        expect(await decide(claims, { kind: 'delivered' })).toEqual(['fenced']);
      },
      release: async () => {
        const claims = await into('delivering', 'f', 'm1');
        const d = claims[0]!.deliveries[0]!;
        await check('release', 'f', 'm1', () => store.release([{ deliveryId: d.deliveryId, epoch: d.epoch }]));
      },
      redrive: async () => {
        await into('deadlettered', 'q', 'm1');
        await check('redrive', 'q', 'm1', () => store.redrive('q'));
      },
      'retry-lane': async () => {
        await into('parked', 'f', 'm1');
        await check('retry-lane', 'f', 'm1', () => store.retryLane('f', 'k'));
      },
      'hurry-retries': async () => {
        await into('waiting-retry', 'f', 'm1');
        await check('hurry-retries', 'f', 'm1', () => store.hurryRetries(['f']));
        expect((await view('m1'))!.availableAt).toBeLessThanOrEqual(clock.now());
      },
      expire: async () => {
        await store.send('q', [newMessage({ id: 'm1', type: 'x', data: {}, expiresAt: clock.now() + 1_000 })]);
        clock.advance(1_000);
        await check('expire', 'q', 'm1', () => store.expire(100));
        expect((await view('m1'))!.lastError).toBe('expired');
      },
      skip: async () => {
        await into('parked', 'f', 'm1');
        await check('skip', 'f', 'm1', () => store.skipLaneHead('f', 'k'));
      },
      redeliver: async () => {
        await into('parked', 'f', 'm1');
        await store.skipLaneHead('f', 'k');
        await check('redeliver', 'f', 'm1', () => store.redeliverSkipped('f'));
      },
      purge: async () => {
        await into('deadlettered', 'q', 'm1');
        await check('purge', 'q', 'm1', () => store.purgeDeadLetters('q'));
      },
      sweep: async () => {
        await into('delivered', 'q', 'm1');
        clock.advance(1_000);
        await check('sweep', 'q', 'm1', () => store.sweep(clock.now()));
      },
      'seek-replay': async () => {
        await into('delivered', 't', 'e1');
        await check('seek-replay', 't', 'e1', () => store.seek('t/a', { sequence: 1 }));
      },
      'seek-skip': async () => {
        await into('ready', 't', 'e1');
        await check('seek-skip', 't', 'e1', () => store.seek('t/a', { sequence: 2 }));
      },
    };

    for (const event of DELIVERY_EVENTS) it(`carries out '${event}' as the table says`, () => cases[event]());

    it('leaves a parked head as it is on redrive: redrive reopens dead letters only', async () => {
      await into('parked', 'f', 'm1');
      expect(await store.redrive('f')).toBe(0);
      expect(await view('m1')).toMatchObject({ status: 'parked', attempts: 1 });
      expect(await laneState('f')).toBe('parked');
    });

    it('keeps a blocked lane blocked when a skipped event is redelivered into it', async () => {
      // A skipped event redelivered into a lane that stalled meanwhile.
      const claims = await into('delivering', 't', 'e1');
      await decide(claims, { kind: 'stall', availableAt: clock.now() + 60_000, reason: 'HTTP 500' });
      await store.skipLaneHead('t/a', '');
      await send('t', 'e2');
      await decide(await claim('t'), { kind: 'stall', availableAt: clock.now() + 60_000, reason: 'HTTP 500' });
      expect(await store.redeliverSkipped('t/a')).toBe(1);
      expect(await laneState('t')).toBe('stalled');
      // It rejoins at its old place: ahead of e2, so it is the head now.
      expect(await view('e1')).toMatchObject({ status: 'stalled', attempts: 0 });
      expect(await view('e2')).toMatchObject({ status: 'retrying' });
    });
  });
}
