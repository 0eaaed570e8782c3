import { describe, expect, it } from 'vitest';
import { classify, endpointVerdict, type AttemptResult, type EndpointVerdict } from './outcome.js';

const now = Date.parse('2024-01-01T00:00:00Z');
const status = (statusCode: number, retryAfter?: string) => classify({ kind: 'response', statusCode, retryAfter }, now);

describe('classify (SPEC §3)', () => {
  it.each([200, 201, 202, 204, 299])('%i is delivered', (code) => {
    expect(status(code)).toEqual({ kind: 'delivered' });
  });

  it.each([429, 503])('%i with Retry-After in seconds retries not before then', (code) => {
    expect(status(code, '30')).toEqual({ kind: 'retryable', reason: `HTTP ${code}`, retryAfterMs: 30_000 });
  });

  it.each([429, 503])('%i with Retry-After as an HTTP date retries not before then', (code) => {
    expect(status(code, 'Mon, 01 Jan 2024 00:02:00 GMT')).toEqual({ kind: 'retryable', reason: `HTTP ${code}`, retryAfterMs: 120_000 });
  });

  it('ignores Retry-After on other retryable codes', () => {
    expect(status(500, '30')).toEqual({ kind: 'retryable', reason: 'HTTP 500' });
    expect(status(408, '30')).toEqual({ kind: 'retryable', reason: 'HTTP 408' });
  });

  it('falls back to backoff when Retry-After is missing or unreadable', () => {
    expect(status(429)).toEqual({ kind: 'retryable', reason: 'HTTP 429' });
    expect(status(503, 'later')).toEqual({ kind: 'retryable', reason: 'HTTP 503' });
    expect(classify({ kind: 'response', statusCode: 503, retryAfter: null }, now)).toEqual({ kind: 'retryable', reason: 'HTTP 503' });
  });

  it.each([408, 425, 429, 500, 502, 503, 504, 599])('%i is retryable', (code) => {
    expect(status(code)).toEqual({ kind: 'retryable', reason: `HTTP ${code}` });
  });

  it.each([400, 401, 403, 404, 405, 409, 410, 413, 422])('%i is a permanent failure', (code) => {
    expect(status(code)).toEqual({ kind: 'permanent', reason: `HTTP ${code}` });
  });

  it('keeps what a failed answer says went wrong: a problem detail, else a JSON message or error, on one line', () => {
    const answer = (statusCode: number, body: string) => classify({ kind: 'response', statusCode, body }, now);
    const problem = JSON.stringify({ type: 'urn:offload:receiver:permanent', title: 'Unprocessable Content', status: 422, detail: 'invalid address:\n  no MX record' });
    expect(answer(422, problem)).toEqual({ kind: 'permanent', reason: 'HTTP 422: invalid address: no MX record' });
    expect(answer(500, '{"message":"db down"}')).toEqual({ kind: 'retryable', reason: 'HTTP 500: db down' });
    expect(answer(400, '{"error":"bad phone"}')).toEqual({ kind: 'permanent', reason: 'HTTP 400: bad phone' });
    expect(answer(400, JSON.stringify({ detail: 'x'.repeat(500) }))).toMatchObject({ reason: `HTTP 400: ${'x'.repeat(199)}…` });
    // Anything else says nothing more than the status.
    for (const body of ['invalid phone number', '{"detail":42}', '{not json', '[1,2]', '{"detail":"   "}']) expect(answer(400, body)).toEqual({ kind: 'permanent', reason: 'HTTP 400' });
  });

  it('retries timeouts and network errors', () => {
    expect(classify({ kind: 'timeout' }, now)).toEqual({ kind: 'retryable', reason: 'timeout' });
    expect(classify({ kind: 'network', error: 'ECONNREFUSED' }, now)).toEqual({ kind: 'retryable', reason: 'network error: ECONNREFUSED' });
  });
});

describe('endpointVerdict: what counts toward the circuit breaker', () => {
  it.each<[AttemptResult, EndpointVerdict]>([
    [{ kind: 'response', statusCode: 200 }, 'success'],
    [{ kind: 'response', statusCode: 204 }, 'success'],
    [{ kind: 'response', statusCode: 500 }, 'failure'],
    [{ kind: 'response', statusCode: 503 }, 'failure'],
    [{ kind: 'response', statusCode: 408 }, 'failure'],
    [{ kind: 'response', statusCode: 425 }, 'failure'],
    [{ kind: 'timeout' }, 'failure'],
    [{ kind: 'network', error: 'ECONNREFUSED' }, 'failure'],
    [{ kind: 'response', statusCode: 400 }, 'neutral'],
    [{ kind: 'response', statusCode: 404 }, 'neutral'],
    [{ kind: 'response', statusCode: 429 }, 'neutral'],
    [{ kind: 'refused', error: "header 'x-a': the value holds a character a header cannot carry" }, 'untested'],
    [{ kind: 'aborted', error: 'lease lost' }, 'untested'],
  ])('%j is %s', (result, verdict) => {
    expect(endpointVerdict(result)).toBe(verdict);
  });

  it('fails a refused message permanently and retries a call Offload aborted', () => {
    expect(classify({ kind: 'refused', error: 'bad header' }, now)).toEqual({ kind: 'permanent', reason: 'request refused before sending: bad header' });
    expect(classify({ kind: 'aborted', error: 'lease lost' }, now)).toMatchObject({ kind: 'retryable' });
  });
});

describe('endpointVerdict of a connection this process could not open', () => {
  it('says nothing about the endpoint when the process ran out of descriptors or buffers', () => {
    for (const error of ['connect EMFILE 127.0.0.1:9000 - Local (undefined:undefined)', 'ENFILE: file table overflow', 'write ENOBUFS']) {
      expect(endpointVerdict({ kind: 'network', error })).toBe('untested');
    }
    expect(endpointVerdict({ kind: 'network', error: 'connect ECONNREFUSED 127.0.0.1:9000' })).toBe('failure');
  });
});
