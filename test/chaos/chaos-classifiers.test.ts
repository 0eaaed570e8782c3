import { describe, expect, it } from 'vitest';
import type { Duplicate, RequestRecord } from '../../src/testing/index.js';
import { explainDuplicates } from '../../chaos/duplicates.js';
import type { LagSampler } from '../../chaos/loop-lag.js';
import type { MessageLookup, MessageView } from '../../chaos/message-view.js';
import { classifyOverlaps, type Overlap } from '../../chaos/overlaps.js';
import { parseOptions, UsageError } from '../../chaos/options.js';

const T0 = Date.parse('2026-01-01T00:00:00Z');

function record(index: number, id: string, attempt: number, startedAt: number, endedAt: number, outcome: RequestRecord['outcome'], status?: number): RequestRecord {
  return {
    index,
    method: 'POST',
    path: '/billing',
    target: '/billing',
    headers: {},
    body: '',
    events: [{ id, key: 'k', attempt }],
    startedAt: T0 + startedAt,
    endedAt: T0 + endedAt,
    outcome,
    ...(status === undefined ? {} : { status }),
  };
}

const lagOf = (ms: number): LagSampler => ({ maxLagBetween: () => ms, summary: () => ({ p99: ms, max: ms }), stop: () => undefined });

function lookupOf(history: Array<{ attempt: number; startedAt: number; durationMs: number; statusCode: number | null; error: string | null }>): MessageLookup {
  const view: MessageView = {
    status: 'delivered',
    deliveries: [{ target: 'events/billing', status: 'delivered', attempts: history.length, lastError: null, history: history.map((a) => ({ ...a, startedAt: new Date(T0 + a.startedAt).toISOString() })) }],
  };
  return async () => view;
}

/** A timed-out attempt whose close the receiver stamped 10 ms after the retry arrived. */
const overlap: Overlap = {
  target: '/billing',
  key: 'k',
  first: { id: 'm', record: record(0, 'm', 1, 0, 1_060, 'aborted') },
  second: { id: 'm', record: record(1, 'm', 2, 1_050, 1_060, 'answered', 200) },
};

describe('chaos overlap classification', () => {
  it('counts an overlap within the loop lag as stamp order when Offload says the first attempt ended before the next began', async () => {
    const lookup = lookupOf([
      { attempt: 1, startedAt: 0, durationMs: 1_002, statusCode: null, error: 'timeout' },
      { attempt: 2, startedAt: 1_036, durationMs: 40, statusCode: 200, error: null },
    ]);
    const result = await classifyOverlaps([overlap], lagOf(70), lookup);
    expect(result.real).toEqual([]);
    expect(result.stampOrder).toHaveLength(1);
  });

  it('keeps it as a real overlap when Offload started the next attempt before the first ended', async () => {
    const lookup = lookupOf([
      { attempt: 1, startedAt: 0, durationMs: 1_002, statusCode: null, error: 'timeout' },
      { attempt: 2, startedAt: 990, durationMs: 40, statusCode: 200, error: null },
    ]);
    expect((await classifyOverlaps([overlap], lagOf(70), lookup)).real).toHaveLength(1);
  });

  it('keeps it as a real overlap when it is longer than the loop lag', async () => {
    expect((await classifyOverlaps([overlap], lagOf(0), undefined)).real).toHaveLength(1);
  });
});

describe('chaos duplicate explanation', () => {
  const duplicate: Duplicate = { target: '/billing', id: 'm', count: 2, inFlightAtCrash: false };
  const records = [record(0, 'm', 1, 0, 800, 'answered', 200), record(1, 'm', 2, 1_100, 1_110, 'answered', 200)];

  it('allows a repeat whose earlier 2xx Offload recorded as a timeout', async () => {
    const lookup = lookupOf([
      { attempt: 1, startedAt: 0, durationMs: 1_080, statusCode: null, error: 'timeout' },
      { attempt: 2, startedAt: 1_100, durationMs: 10, statusCode: 200, error: null },
    ]);
    const result = await explainDuplicates([duplicate], records, [], lookup);
    expect(result.unexplained).toEqual([]);
    expect(result.timeoutRaces[0]?.causes).toEqual([{ kind: 'timeout', attempt: 1, receiverMs: 800, offloadMs: 1_080, offloadError: 'timeout' }]);
  });

  it('allows a repeat whose earlier 2xx Offload never recorded when a kill came before the next request', async () => {
    const lookup = lookupOf([{ attempt: 2, startedAt: 1_100, durationMs: 10, statusCode: 200, error: null }]);
    const crash = { kind: 'sigkill' as const, instance: 'instance-1', at: T0 + 1_000, until: T0 + 1_010 };
    const result = await explainDuplicates([duplicate], records, [crash], lookup);
    expect(result.lateCrash.map((d) => d.causes)).toEqual([[{ kind: 'crash', attempt: 1, answeredAt: T0 + 800, crashAt: T0 + 1_000 }]]);
    expect((await explainDuplicates([duplicate], records, [], lookup)).unexplained).toEqual([duplicate]);
  });

  it('counts a repeat as unexpected when Offload recorded both attempts as delivered', async () => {
    const lookup = lookupOf([
      { attempt: 1, startedAt: 0, durationMs: 800, statusCode: 200, error: null },
      { attempt: 2, startedAt: 1_100, durationMs: 10, statusCode: 200, error: null },
    ]);
    expect((await explainDuplicates([duplicate], records, [], lookup)).unexplained).toEqual([duplicate]);
  });
});

describe('chaos flags', () => {
  it('defaults to two minutes on SQLite with one instance', () => {
    expect(parseOptions([], {})).toMatchObject({ durationMs: 120_000, store: 'sqlite', instances: 1, pgRestarts: 0 });
  });

  it('refuses several instances on SQLite, which one process owns', () => {
    expect(() => parseOptions(['--instances', '3'], {})).toThrow(UsageError);
  });

  it('takes durations with units and PostgreSQL settings', () => {
    expect(parseOptions(['--store', 'postgres', '--duration', '3m', '--kill-every', '0'], {})).toMatchObject({ durationMs: 180_000, instances: 3, pgRestarts: 2, killEveryMs: 0 });
  });
});
