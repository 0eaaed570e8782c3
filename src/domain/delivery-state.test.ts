import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DELIVERY_EVENTS,
  DELIVERY_STATES,
  laneActionRefusal,
  DELIVERY_TRANSITIONS,
  LANE_STATES,
  deliveryStatus,
  isLive,
  messageStatus,
  nextDeliveryState,
  nextLaneState,
  type DeliveryEvent,
  type DeliveryState,
  type LaneState,
  type StoredDelivery,
} from './delivery-state.js';
import { FINAL_STATUSES, type MessageStatus } from './message.js';

const NOW = 1_700_000_000_000;

describe('delivery transition table', () => {
  it('names every state: each is entered by some event, and only delivered and dead letters leave the store', () => {
    const entered = new Set(Object.values(DELIVERY_TRANSITIONS).map((t) => t.to));
    for (const state of DELIVERY_STATES) expect(entered.has(state), state).toBe(true);
    const deletes = DELIVERY_EVENTS.filter((e) => DELIVERY_TRANSITIONS[e].to === 'deleted');
    expect(deletes.flatMap((e) => DELIVERY_TRANSITIONS[e].from).sort()).toEqual(['deadlettered', 'delivered']);
  });

  it('leaves every live state by some event, and every final state only by an operator or retention', () => {
    for (const state of DELIVERY_STATES) {
      const exits = DELIVERY_EVENTS.filter((e) => nextDeliveryState(state, e) !== null && nextDeliveryState(state, e) !== state);
      expect(exits.length, state).toBeGreaterThan(0);
      if (!isLive(state)) expect(exits.every((e) => ['redrive', 'redeliver', 'purge', 'sweep', 'seek-replay'].includes(e)), state).toBe(true);
    }
  });

  it('takes decisions and releases only from delivering, fenced by the epoch', () => {
    for (const event of DELIVERY_EVENTS.filter((e) => e.startsWith('decide:') || e === 'release')) {
      expect(DELIVERY_TRANSITIONS[event].from).toEqual(['delivering']);
      expect(DELIVERY_TRANSITIONS[event].fenced).toBe(true);
    }
  });

  it('counts an attempt on claim only, gives it back on release, and restarts the budget on operator actions', () => {
    const changes = Object.fromEntries(DELIVERY_EVENTS.map((e) => [e, DELIVERY_TRANSITIONS[e].attempts]));
    expect(changes).toMatchObject({ claim: 'plus-one', release: 'minus-one', redrive: 'restart', redeliver: 'restart', 'retry-lane': 'restart', send: 'zero' });
    expect(DELIVERY_EVENTS.filter((e) => changes[e] === 'plus-one')).toEqual(['claim']);
  });

  it('answers: a parked head on redrive stays as it is (redrive reopens dead letters only)', () => {
    expect(nextDeliveryState('ready', 'redrive')).toBeNull();
    expect(nextDeliveryState('deadlettered', 'redrive')).toBe('ready');
    expect(nextLaneState('parked', 'redrive', true)).toBe('parked');
    expect(nextLaneState('parked', 'retry-lane', true)).toBe('active');
    expect(nextLaneState('parked', 'skip', false)).toBeNull();
  });

  it('lets a claim take over a delivering row whose lease expired, never a final one', () => {
    expect(nextDeliveryState('delivering', 'lease-expiry')).toBe('delivering');
    expect(nextDeliveryState('delivering', 'claim')).toBe('delivering');
    for (const final of ['delivered', 'deadlettered', 'skipped'] as const) expect(nextDeliveryState(final, 'claim')).toBeNull();
    expect(nextLaneState('parked', 'claim', true)).toBeUndefined();
  });

  it('lets a seek back bring delivered and skipped events back, never dead letters', () => {
    for (const from of ['delivered', 'skipped', 'ready', 'delivering', 'new'] as const) expect(nextDeliveryState(from, 'seek-replay')).toBe('ready');
    expect(nextDeliveryState('deadlettered', 'seek-replay')).toBeNull();
    expect(nextDeliveryState('skipped', 'seek-skip')).toBeNull();
  });

  it('moves a lane on or deletes it when its head leaves, and blocks it on park and stall', () => {
    for (const from of LANE_STATES) {
      for (const event of ['decide:delivered', 'decide:deadletter', 'skip'] as const) {
        expect(nextLaneState(from, event, true)).toBe('active');
        expect(nextLaneState(from, event, false)).toBeNull();
      }
      expect(nextLaneState(from, 'decide:park', true)).toBe('parked');
      expect(nextLaneState(from, 'decide:stall', true)).toBe('stalled');
      expect(nextLaneState(from, 'decide:retry', true)).toBe('active');
      expect(nextLaneState(from, 'send', true)).toBe(from);
    }
    expect(nextLaneState('none', 'send', true)).toBe('active');
  });
});

describe('deliveryStatus', () => {
  const stored = (state: DeliveryState, extra: Partial<StoredDelivery> = {}): StoredDelivery => ({
    state, attempts: 0, availableAt: isLive(state) ? NOW : null, headOf: null, ...extra,
  });

  it('shows final and in-flight states as stored', () => {
    for (const state of ['delivering', 'delivered', 'deadlettered', 'skipped'] as const) {
      for (const headOf of [null, ...LANE_STATES]) expect(deliveryStatus(stored(state, { headOf, attempts: 3 }), NOW)).toBe(state);
    }
  });

  it('shows a blocked lane on its head only', () => {
    expect(deliveryStatus(stored('ready', { headOf: 'parked', attempts: 10 }), NOW)).toBe('parked');
    expect(deliveryStatus(stored('ready', { headOf: 'stalled', attempts: 10, availableAt: NOW + 60_000 }), NOW)).toBe('stalled');
    expect(deliveryStatus(stored('ready', { headOf: null }), NOW)).toBe('queued');
  });

  it('tells retrying, scheduled and queued apart for a ready delivery of an active lane', () => {
    for (const headOf of [null, 'active'] as Array<LaneState | null>) {
      expect(deliveryStatus(stored('ready', { headOf, attempts: 1, availableAt: NOW + 1 }), NOW)).toBe('retrying');
      expect(deliveryStatus(stored('ready', { headOf, availableAt: NOW + 1 }), NOW)).toBe('scheduled');
      expect(deliveryStatus(stored('ready', { headOf, availableAt: NOW }), NOW)).toBe('queued');
    }
  });

  it('derives one status for every combination of stored state', () => {
    const seen = new Set<MessageStatus>();
    for (const state of DELIVERY_STATES) {
      for (const headOf of [null, ...LANE_STATES]) {
        for (const attempts of [0, 1, 7]) {
          for (const availableAt of [null, NOW - 1, NOW, NOW + 1]) {
            if (isLive(state) !== (availableAt !== null)) continue; // the stored invariant
            seen.add(deliveryStatus({ state, headOf, attempts, availableAt }, NOW));
          }
        }
      }
    }
    expect([...seen].sort()).toEqual(['deadlettered', 'delivered', 'delivering', 'parked', 'queued', 'retrying', 'scheduled', 'skipped', 'stalled']);
  });
});

describe('messageStatus', () => {
  it('is the delivery status for one delivery, and the one that needs attention first for several', () => {
    expect(messageStatus(['parked'])).toBe('parked');
    expect(messageStatus(['delivered', 'stalled', 'queued'])).toBe('stalled');
    expect(messageStatus(['delivered', 'queued'])).toBe('queued');
    expect(messageStatus(['delivered', 'skipped'])).toBe('skipped');
    expect(messageStatus(['delivered', 'delivered'])).toBe('delivered');
    expect(messageStatus([])).toBe('delivered');
  });
});

describe('the table as a model (generated event sequences)', () => {
  const attemptsAfter = (rule: (typeof DELIVERY_TRANSITIONS)[DeliveryEvent]['attempts'], n: number) =>
    ({ zero: 0, 'plus-one': n + 1, 'minus-one': n - 1, same: n, restart: 0 })[rule];

  it('never counts attempts below zero, ends only by deletion, and shows a final status exactly for final states', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...DELIVERY_EVENTS), { maxLength: 60 }), fc.constantFrom<LaneState | null>(null, ...LANE_STATES), (events, headOf) => {
        let state: DeliveryState | 'new' | 'deleted' = 'new';
        let attempts = 0;
        let leased = false; // a claim's attempt not yet decided or given back
        for (const event of events) {
          if (state === 'deleted') break;
          const next = nextDeliveryState(state, event);
          if (next === null) continue;
          const rule = DELIVERY_TRANSITIONS[event];
          attempts = attemptsAfter(rule.attempts, attempts);
          // Only an attempt that was taken can be given back.
          if (event === 'release') expect(leased).toBe(true);
          leased = next === 'delivering';
          expect(attempts).toBeGreaterThanOrEqual(0);
          state = next;
          if (state === 'deleted') continue;
          const status = deliveryStatus({ state, attempts, availableAt: isLive(state) ? NOW : null, headOf }, NOW);
          expect(FINAL_STATUSES.has(status)).toBe(!isLive(state));
          if (state === 'ready' && headOf === 'parked') expect(status).toBe('parked');
        }
      }),
      { numRuns: 2_000 },
    );
  });
});

describe('laneActionRefusal', () => {
  it('names the key, or the subscription for the one lane of a topic-ordered subscription', () => {
    expect(laneActionRefusal('retry', 'tenant-7', 'active', { status: 'ready', attempts: 0 })).toBe("'tenant-7' is not blocked and its head has not failed (it is queued or waiting for its time): nothing to retry");
    expect(laneActionRefusal('skip', '', 'active', { status: 'ready', attempts: 0 })).toBe('the subscription is not blocked and its head has not failed (it is queued or waiting for its time): nothing to skip');
    expect(laneActionRefusal('retry', '', 'stalled', { status: 'delivering', attempts: 3 })).toMatch(/^the head of the subscription is being delivered right now/);
    expect(laneActionRefusal('retry', 'k', 'parked', { status: 'ready', attempts: 3 })).toBeUndefined();
  });
});
