import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { rawBatchDataOf, rawDataOf } from './raw-json.js';

describe('raw JSON spans', () => {
  it('finds data as written, whatever precedes it, and the last of repeated members', () => {
    expect(rawDataOf('{"data":1.0}')).toBe('1.0');
    expect(rawDataOf(' { "id" : "a\\"data\\"", "d\\u0061ta" :\t{"a": [1.0, "}"]} , "type":"x" }')).toBe('{"a": [1.0, "}"]}');
    expect(rawDataOf('{"data":1,"data":"two"}')).toBe('"two"');
    expect(rawDataOf('{"id":"x"}')).toBeUndefined();
    expect(rawDataOf('[1]')).toBeUndefined();
    expect(rawBatchDataOf('{"messages":[{"data":1.50},2,{"id":"x"},{"data":{"k":"\\\\"}}]}')).toEqual(['1.50', undefined, undefined, '{"k":"\\\\"}']);
  });

  it('agrees with JSON.parse on any value', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.jsonValue(), fc.boolean(), (data, other, spaced) => {
        const text = JSON.stringify({ other, data, after: other }, null, spaced ? 2 : undefined);
        const raw = rawDataOf(text);
        expect(JSON.parse(raw!)).toEqual(JSON.parse(JSON.stringify(data)));
        const batch = JSON.stringify({ messages: [{ other, data }, { data: other }] }, null, spaced ? 1 : undefined);
        expect(rawBatchDataOf(batch).map((r) => JSON.parse(r!))).toEqual([JSON.parse(JSON.stringify(data)), JSON.parse(JSON.stringify(other))]);
      }),
      { numRuns: 500 },
    );
  });
});
