import { describe, expect, it } from 'vitest';
import { OffloadApiError } from '../client/index.js';
import { describeError } from './errors.js';

const context = { url: 'http://127.0.0.1:8080' };

describe('describeError', () => {
  it('a 401 tells the CLI user how to give a key', () => {
    const error = new OffloadApiError(401, { type: 'urn:offload:problem:unauthorized', title: 'Unauthorized', status: 401, detail: 'send an API key as Authorization: Bearer <key>' }, 'POST /v1/queues/q/messages: 401');
    expect(describeError(error, context)).toEqual(['error: send an API key as Authorization: Bearer <key> (give the key with --api-key or OFFLOAD_API_KEY)']);
  });

  it('an answer that names ?key= names the --key flag', () => {
    const detail = "'t/s' is ordered by key: say which key with ?key=<key> (blocked now: tenant-7)";
    const error = new OffloadApiError(400, { type: 'urn:offload:problem:invalid_request', title: 'Bad Request', status: 400, detail }, 'POST …/retry: 400');
    expect(describeError(error, context)[0]).toBe("error: 't/s' is ordered by key: say which key with --key <key> (blocked now: tenant-7)");
  });

  it('an answer over several lines (a web page where Offload was expected) is one line', () => {
    const error = new OffloadApiError(200, undefined, 'GET /v1/channels: 200, and the answer is not JSON (is http://x an Offload server?): <html>\n  <body>\n hi</body>');
    const lines = describeError(error, context);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toBe('error: GET /v1/channels: 200, and the answer is not JSON (is http://x an Offload server?): <html> <body> hi</body>');
  });
});
