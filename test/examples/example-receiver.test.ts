import { afterEach, describe, expect, it } from 'vitest';
import { createExampleReceiver, type ExampleReceiver } from '../../examples/receiver.js';

/** The receiver's checks must catch what they claim to catch, or "0 out of order" proves nothing. */
describe('example receiver', () => {
  let receiver: ExampleReceiver | undefined;
  const lines: string[] = [];
  afterEach(async () => {
    await receiver?.close();
    lines.length = 0;
  });

  const start = async (failureRate = 0) => {
    receiver = await createExampleReceiver({ port: 0, failureRate, log: (line) => lines.push(line) });
    return receiver;
  };
  const event = (id: string, fields: Record<string, unknown>) => ({ specversion: '1.0', id, source: '/offload/test', type: 'test', time: new Date().toISOString(), deliveryattempt: 1, ...fields });
  const post = (path: string, body: unknown, key?: string) =>
    fetch(`${receiver!.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/cloudevents+json', ...(key ? { 'idempotency-key': key } : {}) }, body: JSON.stringify(body) });

  it('stores an audit once per idempotency key', async () => {
    await start();
    expect((await post('/audits/deliver', event('a-1', { data: { actor: 'ada', action: 'login' } }), 'a-1')).status).toBe(200);
    expect((await post('/audits/deliver', event('a-1', { data: { actor: 'ada', action: 'login' } }), 'a-1')).status).toBe(200);
    expect(receiver!.stats().audits).toEqual({ stored: 1, duplicates: 1 });
    expect(lines[0]).toBe('✓ audit stored: ada login');
  });

  it('refuses SMS to +999 numbers with a permanent 422 and answers provider trouble with 503 + Retry-After or 500', async () => {
    await start(1);
    expect((await post('/smses/deliver', event('s-1', { data: { to: '+999 1' } }))).status).toBe(422);
    const busy = await post('/emails/deliver', event('e-1', { data: { to: 'ada@example.com' } }));
    expect([500, 503]).toContain(busy.status);
    if (busy.status === 503) expect(busy.headers.get('retry-after')).toBe('1');
    expect(receiver!.stats().smses.rejected).toBe(1);
  });

  it('reports a provisioning step that overtakes its predecessor', async () => {
    await start();
    const response = await post('/provisionings/deliver', event('t-seed', { subject: 't-1', data: { tenantId: 't-1', step: 'seed' } }));
    expect(response.status).toBe(409);
    expect(receiver!.stats().provisionings.outOfOrder).toBe(1);
  });

  it('reports two provisioning calls for one tenant at once', async () => {
    await start();
    await Promise.all([
      post('/provisionings/deliver', event('t-a', { subject: 't-2', data: { step: 'create-db' } })),
      post('/provisionings/deliver', event('t-b', { subject: 't-2', data: { step: 'create-db' } })),
    ]);
    expect(receiver!.stats().provisionings.overlaps).toBe(1);
  });

  it('reports a gap in the read model and an order going backwards in billing', async () => {
    await start();
    await post('/events', [event('e-1', { sequence: 1 }), event('e-2', { sequence: 2 })]);
    await post('/events', [event('e-4', { sequence: 4 })]);
    await post('/billing/events', event('o-paid', { type: 'OrderPaid', subject: 'o-1', sequence: 6 }));
    await post('/billing/events', event('o-placed', { type: 'OrderPlaced', subject: 'o-1', sequence: 5 }));
    const stats = receiver!.stats();
    expect(stats.readModels).toMatchObject({ events: 3, gaps: 1, lastSequence: 4 });
    expect(stats.billing.outOfOrder).toBe(1);
  });

  it('serves its counts at GET /_stats and answers 404 on unknown paths', async () => {
    await start();
    const stats = (await (await fetch(`${receiver!.url}/_stats`)).json()) as { requests: number };
    expect(stats.requests).toBe(1);
    expect((await post('/nowhere', {})).status).toBe(404);
  });
});
