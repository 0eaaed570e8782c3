import { describe, expect, it } from 'vitest';
import { clientErrorAnswer } from './problem.js';

/** A socket as Node hands it to the client error handler, recording what was done to it. */
function socket(over: { writable?: boolean; headersSent?: boolean } = {}) {
  const done: string[] = [];
  return {
    done,
    writable: over.writable ?? true,
    _httpMessage: over.headersSent === undefined ? null : { headersSent: over.headersSent },
    end: (data: string) => void done.push(data.split('\r\n')[0]!),
    destroy: () => void done.push('destroyed'),
  };
}
const error = (code: string) => Object.assign(new Error(code), { code });

describe('answers to requests the HTTP parser refused', () => {
  it('answers a problem on a connection nothing was answered on yet', () => {
    const s = socket();
    clientErrorAnswer(error('ERR_HTTP_REQUEST_TIMEOUT'), s);
    expect(s.done).toEqual(['HTTP/1.1 408 Request Timeout']);
  });

  it('writes nothing after an answer began, on a reset connection, or on one that cannot be written', () => {
    for (const [s, code] of [[socket({ headersSent: true }), 'ERR_HTTP_REQUEST_TIMEOUT'], [socket(), 'ECONNRESET'], [socket({ writable: false }), 'HPE_INVALID_METHOD']] as const) {
      clientErrorAnswer(error(code), s);
      expect(s.done).toEqual(['destroyed']);
    }
  });
});
