import { Webhook } from 'standardwebhooks';
import { describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { signatureHeaders } from '../delivery/signing.js';
import { createReceiver, ok, permanent, retryAfter, withSchema, type ReceiverOptions } from './index.js';

const SECRET = 'whsec_' + Buffer.from('receiver-test-secret-0123456789').toString('base64');
const NOW = Date.parse('2026-01-01T00:00:00Z');

function event(id: string, type = 'order.placed', data: unknown = { orderId: 'o-1', amount: 5 }) {
  return { specversion: '1.0', id, source: '/offload/orders', type, datacontenttype: 'application/json', deliveryattempt: 1, data };
}

function request(body: string, options: { secrets?: string[]; at?: number; contentType?: string; id?: string; headers?: Record<string, string> } = {}): Request {
  const id = options.id ?? 'm-1';
  const signed = signatureHeaders(options.secrets ?? [SECRET], id, body, options.at ?? NOW);
  return new Request('http://receiver.test/events', {
    method: 'POST',
    headers: { 'content-type': options.contentType ?? 'application/cloudevents+json', 'idempotency-key': id, ...signed, ...options.headers },
    body,
  });
}

function receiver(handlers: ReceiverOptions['handlers'], extra: Partial<ReceiverOptions> = {}) {
  return createReceiver({ secrets: SECRET, handlers, now: () => NOW, onError: () => {}, ...extra });
}

async function answer(response: Response): Promise<{ status: number; body: any; headers: Headers }> {
  return { status: response.status, body: JSON.parse(await response.text()), headers: response.headers };
}

describe('signatures', () => {
  it('accepts what Offload signs and what the standardwebhooks library signs, over the exact bytes', async () => {
    const seen: string[] = [];
    const r = receiver({ 'order.placed': (e) => void seen.push(e.id) });
    // Unusual whitespace and key order: only the bytes as sent verify.
    const body = `{ "specversion":"1.0","id":"m-1","source":"/offload/orders","type":"order.placed",  "data":{"b":1,"a":2} }`;
    expect((await r.fetch(request(body))).status).toBe(200);
    const wh = new Webhook(SECRET);
    const ts = new Date(NOW);
    const library = new Request('http://receiver.test/', {
      method: 'POST',
      headers: { 'content-type': 'application/cloudevents+json', 'webhook-id': 'm-2', 'webhook-timestamp': String(NOW / 1000), 'webhook-signature': wh.sign('m-2', ts, body) },
      body,
    });
    expect((await r.fetch(library)).status).toBe(200);
    expect(seen).toEqual(['m-1', 'm-1']);
  });

  it('refuses a changed body, a wrong secret and missing headers with 401 and says why', async () => {
    const r = receiver({ '*': () => {} });
    const body = JSON.stringify(event('m-1'));
    const tampered = request(body);
    const changed = new Request(tampered.url, { method: 'POST', headers: tampered.headers, body: body.replace('"amount":5', '"amount":6') });
    const a = await answer(await r.fetch(changed));
    expect(a.status).toBe(401);
    expect(a.body.detail).toMatch(/no signature matches/);
    expect((await answer(await r.fetch(request(body, { secrets: ['whsec_b3RoZXI='] })))).status).toBe(401);
    const bare = await answer(await r.fetch(new Request('http://x/', { method: 'POST', headers: { 'content-type': 'application/cloudevents+json' }, body })));
    expect(bare).toMatchObject({ status: 401, body: { detail: expect.stringMatching(/webhook-id/) } });
    const garbage = request(body, { headers: { 'webhook-signature': 'v1,!!! v2,abc v1' } });
    expect((await r.fetch(garbage)).status).toBe(401);
  });

  it('refuses timestamps outside the replay window in both directions', async () => {
    const r = receiver({ '*': () => {} }, { tolerance: 60 });
    const body = JSON.stringify(event('m-1'));
    expect((await r.fetch(request(body, { at: NOW - 59_000 }))).status).toBe(200);
    const old = await answer(await r.fetch(request(body, { at: NOW - 61_000 })));
    expect(old.status).toBe(401);
    expect(old.body.detail).toMatch(/61s away from now; the window is 60s/);
    expect((await r.fetch(request(body, { at: NOW + 61_000 }))).status).toBe(401);
    expect((await r.fetch(request(body, { headers: { 'webhook-timestamp': '1e9' } }))).status).toBe(401);
  });

  it('rotation: accepts a request signed by the old, the new, or both secrets while both are configured', async () => {
    const next = 'a-plain-new-secret';
    const r = receiver({ '*': () => {} }, { secrets: [SECRET, next] });
    const body = JSON.stringify(event('m-1'));
    expect((await r.fetch(request(body, { secrets: [SECRET] }))).status).toBe(200);
    expect((await r.fetch(request(body, { secrets: [next] }))).status).toBe(200);
    expect((await r.fetch(request(body, { secrets: [SECRET, next] }))).status).toBe(200);
    const onlyNew = receiver({ '*': () => {} }, { secrets: [next] });
    expect((await onlyNew.fetch(request(body, { secrets: [SECRET, next] }))).status).toBe(200);
    expect((await onlyNew.fetch(request(body, { secrets: [SECRET] }))).status).toBe(401);
  });

  it('needs a secret unless unsigned requests are allowed explicitly', async () => {
    expect(() => createReceiver({ secrets: [], handlers: {} })).toThrow(/allowUnsigned/);
    const r = createReceiver({ secrets: [], allowUnsigned: true, handlers: { '*': () => {} } });
    const body = JSON.stringify(event('m-1'));
    expect((await r.fetch(new Request('http://x/', { method: 'POST', headers: { 'content-type': 'application/json' }, body }))).status).toBe(200);
  });

  it('refuses at creation a whsec_ secret that is not base64, naming which (Offload refuses the same one in its configuration)', () => {
    expect(() => createReceiver({ secrets: [SECRET, 'whsec_!!!notbase64'], handlers: {} })).toThrow(/secrets\[1\]: a whsec_ secret must be standard base64/);
    expect(() => createReceiver({ secrets: 'whsec_', handlers: {} })).toThrow(/secrets\[0\]: a whsec_ secret needs its base64 key/);
  });

  it('refuses at creation a replay window that would turn the check off (NaN, Infinity, 0) and limits that are not whole numbers', () => {
    for (const tolerance of [Number.NaN, Number.POSITIVE_INFINITY, 0, -5, '300' as unknown as number]) {
      expect(() => createReceiver({ secrets: [SECRET], tolerance, handlers: {} }), String(tolerance)).toThrow(/tolerance must be a number of seconds above 0/);
    }
    expect(() => createReceiver({ secrets: [SECRET], maxBodyBytes: Number.NaN, handlers: {} })).toThrow(/maxBodyBytes must be a whole number above 0/);
    expect(() => createReceiver({ secrets: [SECRET], maxBatch: 0, handlers: {} })).toThrow(/maxBatch must be a whole number above 0/);
    expect(() => createReceiver({ secrets: [SECRET], tolerance: 30, handlers: {} })).not.toThrow();
  });
});

describe('events and outcomes', () => {
  it('maps outcomes, returned or thrown, to the codes Offload understands', async () => {
    const r = receiver({
      later: () => retryAfter(7.2, 'provider busy'),
      laterThrown: () => {
        throw retryAfter(3);
      },
      refuse: () => permanent('invalid phone number'),
      refuseThrown: () => {
        throw permanent('no such tenant');
      },
      crash: () => {
        throw new Error('database password is hunter2');
      },
      result: () => ok({ providerId: 'p-9' }),
    });
    const send = async (type: string) => answer(await r.fetch(request(JSON.stringify(event('m-1', type)))));
    const later = await send('later');
    expect(later.status).toBe(503);
    expect(later.headers.get('retry-after')).toBe('8');
    expect(later.body.detail).toBe('provider busy');
    expect((await send('laterThrown')).headers.get('retry-after')).toBe('3');
    expect(await send('refuse')).toMatchObject({ status: 422, body: { detail: 'invalid phone number' } });
    expect(await send('refuseThrown')).toMatchObject({ status: 422, body: { detail: 'no such tenant' } });
    const crash = await send('crash');
    expect(crash.status).toBe(500);
    expect(JSON.stringify(crash.body)).not.toMatch(/hunter2/);
    expect(await send('result')).toMatchObject({ status: 200, body: { providerId: 'p-9' } });
    expect(await send('nobody')).toMatchObject({ status: 422, body: { detail: expect.stringMatching(/no handler for event type nobody/) } });
  });

  it('reports a thrown error to onError once', async () => {
    const onError = vi.fn();
    const r = receiver({ crash: () => Promise.reject(new Error('boom')) }, { onError });
    expect((await r.fetch(request(JSON.stringify(event('m-1', 'crash'))))).status).toBe(500);
    expect(onError).toHaveBeenCalledTimes(1);
    expect(onError.mock.calls[0]![1]).toMatchObject({ id: 'm-1', type: 'crash' });
  });

  it('checks data against the handler schema: typed data, and a permanent 422 listing what is wrong', async () => {
    const totals: number[] = [];
    const r = receiver({
      'order.placed': withSchema(z.object({ orderId: z.string(), amount: z.number().int().positive() }), (e) => {
        totals.push(e.data.amount);
      }),
    });
    expect((await r.fetch(request(JSON.stringify(event('m-1'))))).status).toBe(200);
    const bad = await answer(await r.fetch(request(JSON.stringify(event('m-2', 'order.placed', { orderId: 7, amount: -1 })))));
    expect(bad.status).toBe(422);
    expect(bad.body.errors.map((e: { path: string }) => e.path).sort()).toEqual(['amount', 'orderId']);
    expect(totals).toEqual([5]);
  });

  it('treats a schema that throws while checking (a transform, a refinement) as a handler error: 500 without the message, told to onError', async () => {
    const onError = vi.fn();
    const throwing = z.object({ a: z.string().transform(() => { throw new Error('database password is hunter2'); }) });
    const r = receiver({ 'order.placed': withSchema(throwing, () => {}) }, { onError });
    const a = await answer(await r.fetch(request(JSON.stringify(event('m-1', 'order.placed', { a: 'x' })))));
    expect(a.status).toBe(500);
    expect(JSON.stringify(a.body)).not.toMatch(/hunter2/);
    expect(onError).toHaveBeenCalledTimes(1);
    expect(String(onError.mock.calls[0]![0])).toMatch(/hunter2/);
  });

  it('runs a batch in order and answers which prefix it applied when one fails', async () => {
    const applied: string[] = [];
    const r = receiver({
      '*': (e, ctx) => {
        if (e.id === 'm-3') return retryAfter(1);
        applied.push(`${e.id}@${ctx.batch.index}/${ctx.batch.size}`);
      },
    });
    const batch = JSON.stringify([event('m-1'), event('m-2'), event('m-3'), event('m-4')]);
    const a = await answer(await r.fetch(request(batch, { contentType: 'application/cloudevents-batch+json', id: 'm-1..m-4' })));
    expect(a.status).toBe(503);
    expect(a.body).toMatchObject({ appliedThrough: 'm-2', failedEvent: 'm-3' });
    expect(applied).toEqual(['m-1@0/4', 'm-2@1/4']);
    const good = JSON.stringify([event('m-5'), event('m-6')]);
    expect(await answer(await r.fetch(request(good, { contentType: 'application/cloudevents-batch+json' })))).toMatchObject({ status: 200, body: { ok: true, applied: 2 } });
  });

  it('answers malformed requests with a 4xx that says what to fix', async () => {
    const r = receiver({ '*': () => {} }, { maxBodyBytes: 1024, maxBatch: 2 });
    const cases: Array<[string, string, number, RegExp]> = [
      ['not json', 'application/cloudevents+json', 400, /not valid JSON/],
      [JSON.stringify({ id: 'x' }), 'application/cloudevents+json', 400, /specversion/],
      [JSON.stringify({ ...event('m-1'), source: '' }), 'application/cloudevents+json', 400, /source must be a non-empty string/],
      [JSON.stringify([]), 'application/cloudevents-batch+json', 400, /empty batch/],
      [JSON.stringify([event('a'), event('b'), event('c')]), 'application/cloudevents-batch+json', 400, /over the receiver's limit of 2/],
      [JSON.stringify(event('m-1')), 'application/cloudevents-batch+json', 400, /JSON array/],
      [JSON.stringify(event('m-1')), 'text/plain', 415, /not a CloudEvents structured event/],
      [JSON.stringify({ ...event('m-1'), data: 'x'.repeat(2000) }), 'application/cloudevents+json', 413, /over 1024 bytes/],
    ];
    for (const [body, contentType, status, detail] of cases) {
      const a = await answer(await r.fetch(request(body, { contentType })));
      expect({ status: a.status, detail: a.body.detail }).toEqual({ status, detail: expect.stringMatching(detail) });
    }
    const get = await r.fetch(new Request('http://x/', { method: 'GET' }));
    expect(get.status).toBe(405);
    const bytes = new Uint8Array([0xff, 0xfe, 0x7b]);
    const invalid = new Request('http://x/', { method: 'POST', headers: { ...signatureHeaders([SECRET], 'm', '\ufffd', NOW), 'content-type': 'application/json' }, body: bytes });
    expect((await r.fetch(invalid)).status).toBe(401);
  });
});
