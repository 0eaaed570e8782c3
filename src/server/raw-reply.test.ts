import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RawJson, stringifyReply } from './raw-reply.js';

describe('answers with raw JSON in them', () => {
  it('writes raw text as it is, wherever it sits, and everything else as JSON.stringify does', () => {
    const data = '{"z": 1.0, "a":12345678901234567890, "e":"\\u00e9"}';
    expect(stringifyReply({ id: 'm', data: new RawJson(data), items: [{ data: new RawJson('1.50') }, { data: new RawJson('[ ]') }] }))
      .toBe(`{"id":"m","data":${data},"items":[{"data":1.50},{"data":[ ]}]}`);
    expect(stringifyReply({ a: [1, 'x', null], b: { c: true } })).toBe(JSON.stringify({ a: [1, 'x', null], b: { c: true } }));
  });

  it('cannot be steered by strings that look like its marks', () => {
    fc.assert(fc.property(fc.jsonValue(), fc.string(), fc.jsonValue(), (other, text, data) => {
      const raw = JSON.stringify(data);
      const body = { text, other, marked: `\u0000raw-json:0000000000000000:0`, data: new RawJson(raw), after: text };
      const parsed = JSON.parse(stringifyReply(body)) as Record<string, unknown>;
      expect(parsed).toEqual(JSON.parse(JSON.stringify({ ...body, data })));
    }), { numRuns: 300 });
  });
});
