import { describe, expect, it } from 'vitest';
import { deliveryHeaders, isReservedHeader, messageHeaderIssues } from './headers.js';

describe('delivery headers: endpoint-configured headers always win', () => {
  const own = { 'content-type': 'application/cloudevents+json', 'idempotency-key': 'm-1' };

  it('a stored message header of the same name as a configured one, in any case, is dropped, never doubled', () => {
    const headers = deliveryHeaders({ Authorization: 'Bearer configured' }, { authorization: 'Bearer producer', AUTHORIZATION: 'x', 'x-note': 'kept' }, own);
    expect(headers).toEqual({ authorization: 'Bearer configured', 'x-note': 'kept', ...own });
  });

  it('reserved, invalid and repeated message headers stored before validation existed are filtered', () => {
    const headers = deliveryHeaders({}, { host: 'evil', 'x-forwarded-for': '1.2.3.4', 'bad name': 'v', 'x-crlf': 'a\r\nb', 'X-A': '1', 'x-a': '2', constructor: 'c', __proto__: 'p' }, own);
    expect({ ...headers }).toEqual({ 'x-a': '1', constructor: 'c', ...own });
  });

  it("Offload's own headers win over everything", () => {
    expect(deliveryHeaders({ 'Idempotency-Key': 'configured' }, undefined, own)['idempotency-key']).toBe('m-1');
  });
});

describe('message header rules', () => {
  it('families of reserved names', () => {
    for (const name of ['Proxy-Anything', 'x-forwarded-proto', 'CE-Type', 'webhook-id', 'Sec-Fetch-Mode', 'TraceState', 'Offload-Lane-Position']) expect(isReservedHeader(name), name).toBe(true);
    for (const name of ['x-tenant', 'accept', 'x-forwarded', 'cef']) expect(isReservedHeader(name), name).toBe(false);
  });

  it('issues name the header and the rule', () => {
    expect(messageHeaderIssues({ 'X-Api-Key': 'x' }, new Set(['x-api-key']))).toEqual([{ name: 'X-Api-Key', message: "'X-Api-Key' is set by the endpoint's configuration; a message cannot replace or repeat it" }]);
    expect(messageHeaderIssues({ 'x-ok': 'fine' }, new Set())).toEqual([]);
  });
});
