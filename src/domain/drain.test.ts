import { describe, expect, it } from 'vitest';
import { assessDrain, type DrainCandidate } from './drain.js';

const NOW = 1_000_000;
let nextId = 1;
const live = (fields: Partial<DrainCandidate>): DrainCandidate => ({
  deliveryId: nextId++, target: 'q', lane: null, status: 'queued', attempts: 0, availableAt: NOW, laneState: null, head: false, paused: false, deferredUntil: null, laneLeasedUntil: null, ...fields,
});
const assess = (items: DrainCandidate[], options: { held?: string[]; retryAfter?: string[]; upTo?: number } = {}) =>
  assessDrain(items, {
    now: NOW,
    held: new Map([...(options.held ?? []).map((t) => [t, 'breaker-open'] as const), ...(options.retryAfter ?? []).map((t) => [t, 'retry-after'] as const)]),
    upTo: options.upTo ?? null,
  });

describe('assessDrain', () => {
  it('counts due and in-flight deliveries as busy; waiting ones say why they wait', () => {
    const result = assess([
      live({ status: 'queued' }),
      live({ status: 'delivering', attempts: 1, availableAt: NOW + 30_000 }),
      live({ status: 'scheduled', availableAt: NOW + 5_000 }),
      live({ status: 'retrying', attempts: 2, availableAt: NOW + 5_000 }),
    ]);
    expect(result.items.map((i) => i.reason)).toEqual(['due', 'in-flight', 'scheduled', 'retrying']);
    expect(result).toMatchObject({ busy: 2, waitingRetries: 1 });
  });

  it('lets a lane move only through its head: the rest takes the head’s reason', () => {
    const lane = { target: 'f', laneState: 'active' as const };
    const result = assess([
      live({ ...lane, lane: 'a', head: true, status: 'retrying', attempts: 1, availableAt: NOW + 1_000 }),
      live({ ...lane, lane: 'a', status: 'queued' }),
      live({ ...lane, lane: 'b', head: true, status: 'delivering', attempts: 1, availableAt: NOW + 30_000 }),
      live({ ...lane, lane: 'b', status: 'queued' }),
      live({ target: 'f', lane: 'c', laneState: 'parked', head: true, status: 'parked', attempts: 3 }),
      live({ target: 'f', lane: 'c', laneState: 'parked', status: 'queued' }),
      live({ target: 's', lane: '', laneState: 'stalled', head: true, status: 'stalled', attempts: 10, availableAt: NOW + 60_000 }),
    ]);
    expect(result.items.map((i) => i.reason)).toEqual(['retrying', 'retrying', 'in-flight', 'due', 'parked', 'parked', 'stalled']);
    expect(result).toMatchObject({ busy: 1, waitingRetries: 1 });
  });

  it('counts a stalled head that is being retried as in flight', () => {
    const result = assess([live({ target: 's', lane: '', laneState: 'stalled', head: true, status: 'delivering', attempts: 11 })]);
    expect(result.items[0]!.reason).toBe('in-flight');
    expect(result.busy).toBe(1);
  });

  it('does not wait for a deferred attempt (answered 202): it and its lane await the completion', () => {
    const lane = { target: 'f', laneState: 'active' as const, lane: 'a' };
    const result = assess([
      live({ status: 'delivering', attempts: 1, availableAt: NOW + 90_000, deferredUntil: NOW + 60_000 }),
      live({ ...lane, head: true, status: 'delivering', attempts: 1, availableAt: NOW + 90_000, deferredUntil: NOW + 60_000 }),
      live({ ...lane, status: 'queued' }),
    ]);
    expect(result.items.map((i) => i.reason)).toEqual(['awaiting-completion', 'awaiting-completion', 'awaiting-completion']);
    expect(result).toMatchObject({ busy: 0, waitingRetries: 0 });
  });

  it('does not wait for a lane a seek left held by a fenced call', () => {
    const lane = { target: 's', laneState: 'active' as const, lane: '', laneLeasedUntil: NOW + 60_000 };
    const result = assess([live({ ...lane, head: true }), live({ ...lane })]);
    expect(result.items.map((i) => i.reason)).toEqual(['fenced', 'fenced']);
    expect(result.busy).toBe(0);
    expect(assess([live({ ...lane, head: true, laneLeasedUntil: NOW })]).busy).toBe(1);
  });

  it('does not wait for paused targets, endpoints whose breaker is open or whose Retry-After holds calls back', () => {
    const result = assess([live({ target: 'p', paused: true }), live({ target: 'h' }), live({ target: 'r' })], { held: ['h'], retryAfter: ['r'] });
    expect(result.items.map((i) => i.reason)).toEqual(['paused', 'breaker-open', 'retry-after']);
    expect(result.busy).toBe(0);
  });

  it('counts only deliveries up to the watermark as busy', () => {
    const old = live({});
    const created = live({});
    expect(assess([old, created], { upTo: old.deliveryId }).busy).toBe(1);
    expect(assess([created], { upTo: old.deliveryId }).busy).toBe(0);
  });
});
