import { describe, expect, it } from 'vitest';
import { createClient, OffloadApiError, rawJson } from './index.js';

/** A client whose fetch records each request body and answers `answer`. */
function recording(answer: string, status = 202) {
  const bodies: string[] = [];
  const client = createClient({
    url: 'http://offload.test',
    fetch: async (_url, init) => {
      bodies.push(String(init?.body));
      return new Response(answer, { status, headers: { 'content-type': 'application/json' } });
    },
  });
  return { client, bodies };
}

describe('client', () => {
  it('refuses at creation a retry policy for 429s that would retry forever or without waiting (NaN)', () => {
    expect(() => createClient({ url: 'http://offload.test', throttled: { attempts: Number.NaN } })).toThrow(/throttled\.attempts must be a whole number/);
    expect(() => createClient({ url: 'http://offload.test', throttled: { maxWaitMs: Number.NaN } })).toThrow(/throttled\.maxWaitMs must be a number/);
    expect(() => createClient({ url: 'http://offload.test', throttled: { attempts: 3, maxWaitMs: 0 } })).not.toThrow();
  });

  it('sends rawJson data exactly as written, alone and in batches, next to ordinary values', async () => {
    const { client, bodies } = recording('{"id":"a","status":"queued"}');
    await client.send('q', { id: 'a', data: rawJson('{"price":1.10,"n":9007199254740993}') });
    expect(bodies[0]).toBe('{"id":"a","data":{"price":1.10,"n":9007199254740993}}');
    const batch = recording('{"items":[]}');
    await batch.client.sendBatch('q', [{ data: rawJson('[1.0, 2]') }, { data: { s: 'offload-raw-0' } }, { data: rawJson('"x"') }]);
    expect(batch.bodies[0]).toBe('{"messages":[{"data":[1.0, 2]},{"data":{"s":"offload-raw-0"}},{"data":"x"}]}');
    expect(() => rawJson('{not json')).toThrow(SyntaxError);
  });

  it('an answer that is not JSON says the server may not be Offload', async () => {
    const { client } = recording('<html>hello</html>', 200);
    await expect(client.channels()).rejects.toThrow(/the answer is not JSON \(is http:\/\/offload\.test an Offload server\?\)/);
  });

  it('an empty success answer is an OffloadApiError too, not a TypeError in the caller', async () => {
    const { client } = recording('', 200);
    await expect(client.redrive('q')).rejects.toBeInstanceOf(OffloadApiError);
    await expect(client.channels()).rejects.toThrow(/the answer is empty, not JSON \(is http:\/\/offload\.test an Offload server\?\)/);
  });
});
