import { describe, expect, it } from 'vitest';
import type { StoredMessage } from '../domain/message.js';
import { CLOUDEVENT_BATCH_CONTENT_TYPE, CLOUDEVENT_CONTENT_TYPE, renderCloudEvent, renderCloudEventBatch, renderCloudEventBatchWithin } from './cloud-event.js';

const createdAt = Date.parse('2024-03-01T12:34:56.789Z');

function message(overrides: Partial<StoredMessage> = {}): StoredMessage {
  return {
    id: 'evt-1',
    channel: 'domain_events',
    key: 'tenant-7',
    type: 'tenant.renamed',
    data: '{"name":"Acme"}',
    metadata: { tenantId: 't-7', correlationId: 'corr-1', callerId: 'user-3' },
    deliverAt: null,
    createdAt,
    sequence: 42,
    priority: 0,
    expiresAt: null,
    ...overrides,
  };
}

const REQUIRED = ['specversion', 'id', 'source', 'type'];
/** CloudEvents 1.0: attribute names are lower-case letters and digits. */
const ATTRIBUTE_NAME = /^[a-z0-9]{1,20}$/;

describe('renderCloudEvent', () => {
  it('carries the lane position of an ordered delivery as extensions, previous omitted for a lane\'s first', () => {
    const later = JSON.parse(renderCloudEvent(message(), 1, { lane: 'tenant-7', position: 7, previousId: 'evt-0' })) as Record<string, unknown>;
    expect(later).toMatchObject({ lane: 'tenant-7', laneposition: 7, laneprevious: 'evt-0' });
    const first = JSON.parse(renderCloudEvent(message(), 1, { lane: '', position: 1, previousId: null })) as Record<string, unknown>;
    expect(first.laneposition).toBe(1);
    expect('laneprevious' in first).toBe(false);
    expect(Object.keys(later).every((k) => ATTRIBUTE_NAME.test(k))).toBe(true);
    const batch = JSON.parse(renderCloudEventBatch([{ message: message(), attempt: 1, lanePosition: { lane: 'k', position: 2, previousId: 'a' } }, { message: message({ id: 'evt-2' }), attempt: 1 }])) as Array<Record<string, unknown>>;
    expect(batch.map((e) => e.laneposition)).toEqual([2, undefined]);
  });

  it('renders a structured CloudEvents 1.0 event with every attribute and extension of SPEC §3', () => {
    const event = JSON.parse(renderCloudEvent(message(), 3)) as Record<string, unknown>;
    expect(event).toEqual({
      specversion: '1.0',
      id: 'evt-1',
      source: '/offload/domain_events',
      type: 'tenant.renamed',
      time: '2024-03-01T12:34:56.789Z',
      datacontenttype: 'application/json',
      subject: 'tenant-7',
      partitionkey: 'tenant-7',
      sequence: 42,
      deliveryattempt: 3,
      tenantid: 't-7',
      correlationid: 'corr-1',
      callerid: 'user-3',
      data: { name: 'Acme' },
    });
    for (const name of REQUIRED) expect(typeof event[name]).toBe('string');
    for (const name of Object.keys(event)) expect(name).toMatch(ATTRIBUTE_NAME);
  });

  it('leaves out optional attributes that have no value instead of sending null', () => {
    const event = JSON.parse(renderCloudEvent(message({ key: null, sequence: null, metadata: {} }), 1)) as Record<string, unknown>;
    expect(event).toEqual({
      specversion: '1.0',
      id: 'evt-1',
      source: '/offload/domain_events',
      type: 'tenant.renamed',
      time: '2024-03-01T12:34:56.789Z',
      datacontenttype: 'application/json',
      deliveryattempt: 1,
      data: { name: 'Acme' },
    });
  });

  it('splices the stored data text verbatim', () => {
    const data = '{"z":1.0,"a":[2e3,-0,"\\u00e9"],"n":null}';
    const text = renderCloudEvent(message({ data }), 1);
    expect(text.endsWith(`,"data":${data}}`)).toBe(true);
    expect(JSON.parse(text).data).toEqual({ z: 1, a: [2000, -0, 'é'], n: null });
  });

  it('splices scalar and array payloads too', () => {
    for (const data of ['"text"', '17', 'true', 'null', '[1,2,3]']) {
      expect(JSON.parse(renderCloudEvent(message({ data }), 1)).data).toEqual(JSON.parse(data));
    }
  });

  it('escapes identifiers so the event stays valid JSON', () => {
    const event = JSON.parse(renderCloudEvent(message({ id: 'a"b\\c', key: 'k"</script>', type: 'x"y', metadata: { tenantId: 'line\nbreak' } }), 1));
    expect(event).toMatchObject({ id: 'a"b\\c', subject: 'k"</script>', partitionkey: 'k"</script>', type: 'x"y', tenantid: 'line\nbreak' });
  });
});

describe('renderCloudEventBatch', () => {
  it('within a byte limit: the events from the head that fit, always the first, as a valid array', () => {
    const items = ['a', 'b', 'c'].map((id) => ({ message: message({ id }), attempt: 1 }));
    const one = Buffer.byteLength(renderCloudEvent(items[0]!.message, 1));
    expect(renderCloudEventBatchWithin(items, Number.POSITIVE_INFINITY)).toEqual({ body: renderCloudEventBatch(items), count: 3 });
    const two = renderCloudEventBatchWithin(items, 2 + one * 2 + 1);
    expect(two.count).toBe(2);
    expect((JSON.parse(two.body) as Array<{ id: string }>).map((e) => e.id)).toEqual(['a', 'b']);
    expect(Buffer.byteLength(two.body)).toBeLessThanOrEqual(2 + one * 2 + 1);
    expect(renderCloudEventBatchWithin(items, 1).count).toBe(1);
  });

  it('renders a JSON array of events in the given order, each with its own attempt', () => {
    const items = [
      { message: message({ id: 'e-3', sequence: 3, data: '{"n":3}' }), attempt: 2 },
      { message: message({ id: 'e-4', sequence: 4, data: '{"n":4}' }), attempt: 1 },
      { message: message({ id: 'e-5', sequence: 5, data: '{"n":5}' }), attempt: 1 },
    ];
    const batch = JSON.parse(renderCloudEventBatch(items)) as Array<Record<string, unknown>>;
    expect(Array.isArray(batch)).toBe(true);
    expect(batch.map((e) => [e.id, e.sequence, e.deliveryattempt, e.data])).toEqual([
      ['e-3', 3, 2, { n: 3 }],
      ['e-4', 4, 1, { n: 4 }],
      ['e-5', 5, 1, { n: 5 }],
    ]);
    expect(batch[0]).toEqual(JSON.parse(renderCloudEvent(items[0]!.message, 2)));
  });

  it('renders one event as an array of one', () => {
    expect(JSON.parse(renderCloudEventBatch([{ message: message(), attempt: 1 }]))).toHaveLength(1);
  });

  it('names the structured and batch content types', () => {
    expect(CLOUDEVENT_CONTENT_TYPE).toBe('application/cloudevents+json');
    expect(CLOUDEVENT_BATCH_CONTENT_TYPE).toBe('application/cloudevents-batch+json');
  });
});
