import { describe, expect, it } from 'vitest';
import { classify, type AttemptResult } from './outcome.js';
import { partialAck } from './partial-ack.js';

const ids = ['e1', 'e2', 'e3', 'e4'];
const response = (statusCode: number, body: unknown): AttemptResult => ({ kind: 'response', statusCode, body: typeof body === 'string' ? body : JSON.stringify(body) });
const ack = (result: AttemptResult) => partialAck(result, classify(result, 0), ids);

describe('partial acknowledgement of an ordered batch', () => {
  it('delivers the acknowledged prefix and settles the rest by the answer', () => {
    expect(ack(response(503, { appliedThrough: 'e2', detail: 'busy' }))).toEqual({ applied: 2, rest: { kind: 'retryable', reason: 'HTTP 503: busy' } });
    expect(ack(response(422, { appliedThrough: 'e1' }))).toEqual({ applied: 1, rest: { kind: 'permanent', reason: 'HTTP 422' } });
    expect(ack(response(200, { appliedThrough: 'e3' }))).toEqual({ applied: 3, rest: 'release' });
  });

  it('changes nothing for the whole batch, no prefix, an unknown id, a non-JSON body or a single event', () => {
    expect(ack(response(200, { appliedThrough: 'e4' }))).toBeUndefined();
    expect(ack(response(503, { appliedThrough: null }))).toBeUndefined();
    expect(ack(response(503, { appliedThrough: 'nope' }))).toBeUndefined();
    expect(ack(response(503, '{"appliedThrough":"e2"'))).toBeUndefined();
    expect(ack(response(503, '["appliedThrough"]'))).toBeUndefined();
    expect(ack({ kind: 'timeout' })).toBeUndefined();
    const single = response(503, { appliedThrough: 'e1' });
    expect(partialAck(single, classify(single, 0), ['e1'])).toBeUndefined();
  });
});
