import { describe, expect, it } from 'vitest';
import type { Decision } from '../../domain/decide.js';
import type { Settlement } from '../port.js';
import { laneKey, planLanes, type LaneHead, type SettledRow } from './lanes.js';

const NOW = 1_000;
const settlement = (deliveryId: number, decision: Decision): Settlement => ({
  deliveryId, epoch: 1, decision, attempt: { attempt: 1, startedAt: NOW, durationMs: 1, statusCode: 200, error: null, response: null },
});
const row = (id: number, position = id, lane: string | null = 'a'): SettledRow => ({ id, target_id: 7, lane, position });
const head = (id: number, status: string, availableAt: number, position = id): LaneHead => ({ target_id: 7, lane: 'a', id, position, status, available_at: availableAt });
const key = laneKey(7, 'a');
const active = new Map([[key, 'active']]);

describe('planLanes', () => {
  it('moves a lane on to its next head, no earlier than now', () => {
    const plan = planLanes([settlement(1, { kind: 'delivered' })], [row(1)], active, new Map([[key, head(2, 'ready', 500)]]), NOW);
    expect(plan.results).toEqual(['ok']);
    expect(plan.writes).toEqual([{ targetId: 7, lane: 'a', kind: 'set', state: 'active', readyAt: NOW, reason: null }]);
  });

  it('deletes a lane left empty, and leaves one alone whose next head is still in flight', () => {
    expect(planLanes([settlement(1, { kind: 'deadletter', reason: 'x' })], [row(1)], active, new Map(), NOW).writes).toEqual([
      { targetId: 7, lane: 'a', kind: 'delete' },
    ]);
    expect(planLanes([settlement(1, { kind: 'delivered' })], [row(1)], active, new Map([[key, head(2, 'delivering', 9_000)]]), NOW).writes).toEqual([]);
  });

  it('treats deliveries settled later in the batch as still in flight, like one-by-one settling', () => {
    // 1 retried, 2 delivered: when 2 is settled, 1 is the ready head (final state), so 2 sets the lane due at 1's time.
    const retried = planLanes(
      [settlement(1, { kind: 'retry', availableAt: 5_000, reason: 'HTTP 503' }), settlement(2, { kind: 'delivered' })],
      [row(1), row(2)], active, new Map([[key, head(1, 'ready', 5_000)]]), NOW,
    );
    expect(retried.writes).toEqual([{ targetId: 7, lane: 'a', kind: 'set', state: 'active', readyAt: 5_000, reason: null }]);
    // 1 delivered, then 2 retried: when 1 is settled, 2 was still in flight, so only 2's retry writes.
    const delivered = planLanes(
      [settlement(1, { kind: 'delivered' }), settlement(2, { kind: 'retry', availableAt: 5_000, reason: 'HTTP 503' })],
      [row(1), row(2)], active, new Map([[key, head(2, 'ready', 5_000)]]), NOW,
    );
    expect(delivered.writes).toEqual([{ targetId: 7, lane: 'a', kind: 'set', state: 'active', readyAt: 5_000, reason: null }]);
  });

  it('reports a lane blocked only when it was not blocked that way already', () => {
    const stall = (id: number): Settlement => settlement(id, { kind: 'stall', availableAt: 60_000, reason: 'HTTP 500' });
    expect(planLanes([stall(1)], [row(1)], active, new Map(), NOW).results).toEqual(['blocked']);
    expect(planLanes([stall(1)], [row(1)], new Map([[key, 'stalled']]), new Map(), NOW).results).toEqual(['ok']);
    const park = planLanes([settlement(1, { kind: 'park', reason: 'HTTP 400' })], [row(1)], active, new Map(), NOW);
    expect(park.writes).toEqual([{ targetId: 7, lane: 'a', kind: 'set', state: 'parked', readyAt: null, reason: 'HTTP 400' }]);
  });

  it('reports fenced settlements and leaves unordered ones without lane writes', () => {
    const plan = planLanes([settlement(1, { kind: 'delivered' }), settlement(2, { kind: 'delivered' })], [undefined, row(2, 2, null)], active, new Map(), NOW);
    expect(plan).toEqual({ results: ['fenced', 'ok'], writes: [] });
  });
});
