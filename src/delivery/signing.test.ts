import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { signatureHeaders, verifySignature } from './signing.js';

const whsec = () => `whsec_${randomBytes(24).toString('base64')}`;
const body = '{"specversion":"1.0","id":"msg-1","data":{"amount":42}}';
const at = Date.parse('2024-01-01T00:00:00Z');

const asVerifyHeaders = (h: Record<string, string>) => ({ id: h['webhook-id']!, timestamp: h['webhook-timestamp']!, signature: h['webhook-signature']! });

describe('signatureHeaders', () => {
  it('sets the Standard Webhooks headers with the timestamp in seconds', () => {
    const headers = signatureHeaders([whsec()], 'msg-1', body, at + 999);
    expect(Object.keys(headers).sort()).toEqual(['webhook-id', 'webhook-signature', 'webhook-timestamp']);
    expect(headers['webhook-id']).toBe('msg-1');
    expect(headers['webhook-timestamp']).toBe(String(at / 1000));
    expect(headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]{43}=$/);
  });

  it('produces exactly the signature of the reference implementation', () => {
    const secret = whsec();
    const headers = signatureHeaders([secret], 'msg-1', body, at);
    expect(headers['webhook-signature']).toBe(new Webhook(secret).sign('msg-1', new Date(at), body));
  });

  it('verifies with the standardwebhooks Webhook class', () => {
    const secret = whsec();
    const headers = signatureHeaders([secret], 'msg-1', body, Date.now());
    expect(new Webhook(secret).verify(body, headers)).toEqual(JSON.parse(body));
  });

  it('signs with every secret during rotation; receivers holding either one accept', () => {
    const [oldSecret, newSecret] = [whsec(), whsec()];
    const headers = signatureHeaders([oldSecret, newSecret], 'msg-2', body, Date.now());
    const signatures = headers['webhook-signature']!.split(' ');
    expect(signatures).toHaveLength(2);
    expect(signatures[0]).not.toBe(signatures[1]);
    expect(new Webhook(oldSecret).verify(body, headers)).toEqual(JSON.parse(body));
    expect(new Webhook(newSecret).verify(body, headers)).toEqual(JSON.parse(body));
    expect(() => new Webhook(whsec()).verify(body, headers)).toThrow();
  });

  it('is refused by the reference implementation when the body was changed', () => {
    const secret = whsec();
    const headers = signatureHeaders([secret], 'msg-1', body, Date.now());
    expect(() => new Webhook(secret).verify(body.replace('42', '43'), headers)).toThrow();
  });
});

describe('verifySignature', () => {
  const secret = whsec();
  const headers = asVerifyHeaders(signatureHeaders([secret], 'msg-1', body, at));

  it('accepts a signature it made, within the tolerance either side', () => {
    expect(verifySignature(secret, headers, body, at)).toBe(true);
    expect(verifySignature(secret, headers, body, at + 300_000)).toBe(true);
    expect(verifySignature(secret, headers, body, at - 300_000)).toBe(true);
  });

  it('accepts a signature made by the reference implementation', () => {
    const signature = new Webhook(secret).sign('msg-9', new Date(at), body);
    expect(verifySignature(secret, { id: 'msg-9', timestamp: String(at / 1000), signature }, body, at)).toBe(true);
  });

  it('accepts when any one of several signatures matches', () => {
    const rotated = asVerifyHeaders(signatureHeaders([whsec(), secret], 'msg-1', body, at));
    expect(verifySignature(secret, rotated, body, at)).toBe(true);
  });

  it('rejects a tampered body', () => {
    expect(verifySignature(secret, headers, body.replace('42', '43'), at)).toBe(false);
    expect(verifySignature(secret, headers, `${body} `, at)).toBe(false);
  });

  it('rejects a tampered id or timestamp', () => {
    expect(verifySignature(secret, { ...headers, id: 'msg-2' }, body, at)).toBe(false);
    expect(verifySignature(secret, { ...headers, timestamp: String(at / 1000 + 1) }, body, at)).toBe(false);
  });

  it('rejects a timestamp outside the replay window', () => {
    expect(verifySignature(secret, headers, body, at + 300_001)).toBe(false);
    expect(verifySignature(secret, headers, body, at - 300_001)).toBe(false);
    expect(verifySignature(secret, headers, body, at + 61_000, 60_000)).toBe(false);
    expect(verifySignature(secret, headers, body, at + 59_000, 60_000)).toBe(true);
    expect(verifySignature(secret, { ...headers, timestamp: 'yesterday' }, body, at)).toBe(false);
  });

  it('rejects the wrong secret', () => {
    expect(verifySignature(whsec(), headers, body, at)).toBe(false);
  });

  it('rejects malformed signatures', () => {
    const value = headers.signature.slice(3);
    for (const signature of ['', value, `v2,${value}`, 'v1,', `v1,${value.slice(0, -2)}`]) {
      expect(verifySignature(secret, { ...headers, signature }, body, at), signature).toBe(false);
    }
  });
});
