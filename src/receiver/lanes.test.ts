import Database from 'better-sqlite3';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { signatureHeaders } from '../delivery/signing.js';
import { testDir } from '../../test/support/temp.js';
import { createReceiver, sqliteInbox, type LaneInfo } from './index.js';

const SECRET = 'lane-test-secret';

function delivery(events: Array<{ id: string; lane?: string; position?: number; previous?: string }>): Request {
  const body = JSON.stringify(
    events.map((e) => ({
      specversion: '1.0', id: e.id, source: '/offload/orders', type: 'order.changed', data: {},
      ...(e.position === undefined ? {} : { lane: e.lane ?? 'o-1', laneposition: e.position, ...(e.previous ? { laneprevious: e.previous } : {}) }),
    })),
  );
  return new Request('http://receiver.test/', {
    method: 'POST',
    headers: { 'content-type': 'application/cloudevents-batch+json', ...signatureHeaders([SECRET], events[0]!.id, body, Date.now()) },
    body,
  });
}

describe('lane positions in the receiver', () => {
  it('hands the lane to the handler, and with inOrder refuses a gap with a permanent 422 and answers a step back as applied', async () => {
    const db = new Database(join(testDir(), 'app.db'));
    onTestFinished(() => void db.close());
    const seen: Array<[string, LaneInfo | undefined]> = [];
    const receiver = createReceiver({ secrets: SECRET, inbox: sqliteInbox(db), inOrder: true, handlers: { '*': (e, ctx) => void seen.push([e.id, ctx.lane]) } });
    const status = async (request: Request) => {
      const response = await receiver.fetch(request);
      return { status: response.status, body: JSON.parse(await response.text()) };
    };
    // A receiver that starts mid-stream accepts the first position it sees.
    expect((await status(delivery([{ id: 'e3', position: 3, previous: 'e2' }, { id: 'e4', position: 4, previous: 'e3' }]))).status).toBe(200);
    expect(seen).toEqual([['e3', { key: 'o-1', position: 3, previousId: 'e2' }], ['e4', { key: 'o-1', position: 4, previousId: 'e3' }]]);
    // A repeat of applied events is a duplicate; the next one applies.
    expect((await status(delivery([{ id: 'e4', position: 4, previous: 'e3' }, { id: 'e5', position: 5, previous: 'e4' }]))).body).toMatchObject({ applied: 2, duplicates: 1 });
    const gap = await status(delivery([{ id: 'e7', position: 7, previous: 'e6' }]));
    expect(gap.status).toBe(422);
    expect(gap.body).toMatchObject({ detail: "gap in lane 'o-1': the last applied is position 5, this event is 7 (previous e6)", appliedThrough: null, failedEvent: 'e7' });
    // A step back was applied already: a repeat the inbox forgot, or a replay after a seek.
    expect((await status(delivery([{ id: 'x', position: 2 }, { id: 'e5', position: 5 }, { id: 'e6', position: 6, previous: 'e5' }]))).body).toEqual({ ok: true, applied: 3, duplicates: 2 });
    // Other lanes have their own count; events without a lane (plain queues) are not checked.
    expect((await status(delivery([{ id: 'p1', lane: 'o-2', position: 1 }, { id: 'q1' }]))).status).toBe(200);
    expect(seen.map(([id]) => id)).toEqual(['e3', 'e4', 'e5', 'e6', 'p1', 'q1']);
    expect(seen.at(-1)![1]).toBeUndefined();
  });

  it('inOrder needs an inbox', () => {
    expect(() => createReceiver({ secrets: SECRET, inOrder: true, handlers: {} })).toThrow(/inOrder needs an inbox/);
  });
});
