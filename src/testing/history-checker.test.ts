import { describe, expect, it } from 'vitest';
import { assertHistory, checkHistory } from './history-checker.js';
import type { AcceptedMessage, Delivery, HistoryInput, TargetExpectation } from './history-types.js';

const T0 = 1_700_000_000_000;

interface Step {
  id: string;
  key?: string;
  outcome?: 'ok' | 'failed';
  /** Start and end, in ms after T0. */
  at?: [number, number | undefined];
  request?: number;
}

/** Deliveries one after the other, 10 ms each, unless a step says when. */
function run(target: string, steps: ReadonlyArray<string | Step>): Delivery[] {
  return steps.map((step, i) => {
    const s: Step = typeof step === 'string' ? { id: step } : step;
    const [start, end] = s.at ?? [i * 10, i * 10 + 5];
    return {
      target,
      id: s.id,
      key: s.key,
      startedAt: T0 + start,
      endedAt: end === undefined ? undefined : T0 + end,
      outcome: s.outcome ?? 'ok',
      request: s.request,
    };
  });
}

function accepted(channel: string, ids: string[], extra: (id: string, i: number) => Partial<AcceptedMessage> = () => ({})) {
  return ids.map((id, i) => ({ id, channel, ...extra(id, i) }));
}

function check(targets: TargetExpectation[], acceptedMessages: AcceptedMessage[], deliveries: Delivery[], more: Partial<HistoryInput> = {}) {
  return checkHistory({ accepted: acceptedMessages, targets, deliveries, ...more });
}

const queue: TargetExpectation[] = [{ target: 'audits', channel: 'audits' }];
const topic: TargetExpectation[] = [{ target: 'events/read-models', channel: 'events', ordering: 'topic' }];
const fifo: TargetExpectation[] = [{ target: 'provisionings', channel: 'provisionings', ordering: 'key' }];

describe('checkHistory: loss and duplicates', () => {
  it('passes a clean history, retries included', () => {
    const report = check(queue, accepted('audits', ['a', 'b', 'c']), run('audits', [{ id: 'b', outcome: 'failed' }, 'c', 'a', 'b']));
    expect(report.ok).toBe(true);
    expect(report.summary()).toBe('history ok: 3 accepted, 1 target, 4 deliveries (3 acknowledged)');
  });

  it('reports what was accepted but never acknowledged as lost', () => {
    const report = check(queue, accepted('audits', ['a', 'b', 'c']), run('audits', ['a', { id: 'c', outcome: 'failed' }]));
    expect(report.ok).toBe(false);
    expect(report.lost).toEqual([
      { target: 'audits', id: 'b' },
      { target: 'audits', id: 'c' },
    ]);
    expect(report.summary()).toContain('lost: 2');
  });

  it('does not count skipped ids as lost', () => {
    const report = check([{ ...queue[0]!, skipped: ['b'] }], accepted('audits', ['a', 'b']), run('audits', ['a']));
    expect(report.ok).toBe(true);
  });

  it('expects every accepted message at every subscription of its channel', () => {
    const targets: TargetExpectation[] = [
      { target: 'events/a', channel: 'events' },
      { target: 'events/b', channel: 'events' },
    ];
    const deliveries = [...run('events/a', ['e1', 'e2']), ...run('events/b', ['e1'])];
    expect(check(targets, accepted('events', ['e1', 'e2']), deliveries).lost).toEqual([{ target: 'events/b', id: 'e2' }]);
  });

  it('reports a duplicate acknowledgement as unexpected when nothing crashed', () => {
    const report = check(queue, accepted('audits', ['a', 'b']), run('audits', ['a', 'b', 'a']));
    expect(report.ok).toBe(false);
    expect(report.duplicatedUnexpected).toEqual([{ target: 'audits', id: 'a', count: 2, inFlightAtCrash: false }]);
    expect(report.summary()).toContain('a acknowledged 2 times');
  });

  it('allows duplicates of ids listed as in flight at a crash', () => {
    const report = check(queue, accepted('audits', ['a', 'b']), run('audits', ['a', 'b', 'a']), { inFlightAtCrash: ['a'] });
    expect(report.ok).toBe(true);
    expect(report.duplicatedInFlight).toHaveLength(1);
    expect(report.summary()).toContain('1 duplicate in flight at a crash (allowed)');
  });

  it('allows duplicates of deliveries that meet a crash instant or window', () => {
    const deliveries = run('audits', ['a', 'b', 'a', 'b']); // a: [0,5], b: [10,15]
    const atInstant = check(queue, accepted('audits', ['a', 'b']), deliveries, { crashes: [T0 + 3] });
    expect(atInstant.duplicatedInFlight.map((d) => d.id)).toEqual(['a']);
    expect(atInstant.duplicatedUnexpected.map((d) => d.id)).toEqual(['b']);
    const inWindow = check(queue, accepted('audits', ['a', 'b']), deliveries, { crashes: [{ from: T0 + 6, to: T0 + 12 }] });
    expect(inWindow.duplicatedUnexpected.map((d) => d.id)).toEqual(['a']);
  });

  it('reports deliveries of ids never accepted and to targets nobody expects', () => {
    const report = check(queue, accepted('audits', ['a']), [...run('audits', ['a', 'ghost']), ...run('nowhere', ['a'])]);
    expect(report.unexpected).toEqual([
      { target: 'audits', id: 'ghost', reason: 'unknown id' },
      { target: 'nowhere', id: 'a', reason: 'unknown target' },
    ]);
    expect(report.ok).toBe(false);
  });

  it('keeps channels apart: the same id on two channels is two messages', () => {
    const targets: TargetExpectation[] = [...queue, { target: 'emails', channel: 'emails' }];
    const report = check(targets, [...accepted('audits', ['x']), ...accepted('emails', ['x'])], run('audits', ['x']));
    expect(report.lost).toEqual([{ target: 'emails', id: 'x' }]);
  });
});

describe('checkHistory: order', () => {
  const events = accepted('events', ['e1', 'e2', 'e3', 'e4'], (_id, i) => ({ sequence: i + 1 }));

  it('passes a topic lane acknowledged in sequence, with retries and a crash redelivery', () => {
    const steps = [{ id: 'e1', outcome: 'failed' as const }, 'e1', 'e2', 'e1', 'e3', 'e4'];
    const report = check(topic, events, run('events/read-models', steps), { inFlightAtCrash: ['e1'] });
    expect(report.reordered).toEqual([]);
    expect(report.ok).toBe(true);
  });

  it('reports the first message acknowledged ahead of its predecessor, and the count', () => {
    const report = check(topic, events, run('events/read-models', ['e2', 'e1', 'e4', 'e3']));
    expect(report.reordered).toEqual([
      { target: 'events/read-models', key: undefined, id: 'e2', before: 'e1', at: T0, violations: 2 },
    ]);
    expect(report.summary()).toContain('e2 acknowledged before e1 (2 out-of-order acknowledgements in this lane)');
  });

  it('orders a topic by sequence, not by the order the producer reported acceptance', () => {
    const shuffled = [events[2]!, events[0]!, events[3]!, events[1]!];
    expect(check(topic, shuffled, run('events/read-models', ['e1', 'e2', 'e3', 'e4'])).ok).toBe(true);
  });

  it('lets a lane go on past a skipped message, but not past a failed one', () => {
    const skipping = [{ ...topic[0]!, skipped: ['e2'] }];
    expect(check(skipping, events, run('events/read-models', ['e1', 'e3', 'e4'])).ok).toBe(true);
    const report = check(topic, events, run('events/read-models', ['e1', { id: 'e2', outcome: 'failed' }, 'e3', 'e4']));
    expect(report.reordered[0]).toMatchObject({ id: 'e3', before: 'e2' });
    expect(report.lost).toEqual([{ target: 'events/read-models', id: 'e2' }]);
  });

  it('orders fifo lanes per key by the producer order, keys independent of each other', () => {
    const messages = [
      { id: 'a2', channel: 'provisionings', key: 'a', order: 2 },
      { id: 'a1', channel: 'provisionings', key: 'a', order: 1 },
      { id: 'b1', channel: 'provisionings', key: 'b', order: 1 },
      { id: 'b2', channel: 'provisionings', key: 'b', order: 2 },
    ];
    expect(check(fifo, messages, run('provisionings', ['b1', 'a1', 'b2', 'a2'])).ok).toBe(true);
    const report = check(fifo, messages, run('provisionings', ['a1', 'b2', 'a2', 'b1']));
    expect(report.reordered).toEqual([expect.objectContaining({ key: 'b', id: 'b2', before: 'b1', violations: 1 })]);
  });

  it('does not check order on unordered targets', () => {
    expect(check(queue, accepted('audits', ['a', 'b', 'c']), run('audits', ['c', 'b', 'a'])).ok).toBe(true);
  });
});

describe('checkHistory: overlaps', () => {
  const messages = accepted('provisionings', ['a1', 'a2', 'b1'], (id) => ({ key: id[0], order: Number(id[1]) }));

  it('reports two deliveries of one key in flight together', () => {
    const deliveries = run('provisionings', [
      { id: 'a1', at: [0, 20] },
      { id: 'b1', at: [5, 15] },
      { id: 'a2', at: [10, 30] },
    ]);
    const report = check(fifo, messages, deliveries);
    expect(report.overlaps).toEqual([
      {
        target: 'provisionings',
        key: 'a',
        first: { id: 'a1', startedAt: T0, endedAt: T0 + 20 },
        second: { id: 'a2', startedAt: T0 + 10, endedAt: T0 + 30 },
      },
    ]);
    expect(report.ok).toBe(false);
    expect(report.summary()).toMatch(/provisionings key a: a1 \(from .*, 20\.0 ms\) overlaps a2/);
  });

  it('counts a delivery still in flight as open-ended, and touching intervals as apart', () => {
    const open = run('provisionings', [{ id: 'a1', at: [0, undefined] }, { id: 'a2', at: [50, 60] }, 'b1']);
    expect(check(fifo, messages, open).overlaps).toHaveLength(1);
    const touching = run('provisionings', [{ id: 'a1', at: [0, 10] }, { id: 'a2', at: [10, 20] }, 'b1']);
    expect(check(fifo, messages, touching).ok).toBe(true);
  });

  it('treats any overlap on a topic-ordered lane as a violation, except within one batch', () => {
    const events = accepted('events', ['e1', 'e2', 'e3'], (_id, i) => ({ sequence: i + 1, key: `k${i}` }));
    const batch = run('events/read-models', [
      { id: 'e1', at: [0, 10], request: 1 },
      { id: 'e2', at: [0, 10], request: 1 },
      { id: 'e3', at: [20, 30], request: 2 },
    ]);
    expect(check(topic, events, batch).ok).toBe(true);
    const concurrent = run('events/read-models', [
      { id: 'e1', at: [0, 10] },
      { id: 'e2', at: [5, 15] },
      { id: 'e3', at: [20, 30] },
    ]);
    expect(check(topic, events, concurrent).overlaps).toHaveLength(1);
  });

  it('allows overlaps on unordered targets', () => {
    const deliveries = run('audits', [
      { id: 'a', at: [0, 10] },
      { id: 'b', at: [1, 10] },
    ]);
    expect(check(queue, accepted('audits', ['a', 'b']), deliveries).ok).toBe(true);
  });
});

describe('summary and assertHistory', () => {
  it('shows the first ten of a long list', () => {
    const ids = Array.from({ length: 13 }, (_, i) => `m${i}`);
    const summary = check(queue, accepted('audits', ids), []).summary();
    expect(summary).toContain('lost: 13');
    expect(summary).toContain('… and 3 more');
    expect(summary.split('\n')).toHaveLength(1 + 1 + 10 + 1);
  });

  it('assertHistory throws the summary for a bad history and returns the report for a good one', () => {
    const input = { accepted: accepted('audits', ['a']), targets: queue };
    expect(() => assertHistory({ ...input, deliveries: [] })).toThrow(/lost: 1\n {4}- audits a/);
    expect(assertHistory({ ...input, deliveries: run('audits', ['a']) }).ok).toBe(true);
  });
});
