import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { signatureHeaders } from '../delivery/signing.js';
import { createSignatureVerifier } from './signature.js';
import { webhookSecretKey, webhookSecretProblem } from './webhook-secret.js';

describe('webhook secrets', () => {
  it('takes whsec_ with standard base64 (padded or not) as its bytes, and any other string as its UTF-8', () => {
    const bytes = randomBytes(24);
    expect(Buffer.from(webhookSecretKey(`whsec_${bytes.toString('base64')}`))).toEqual(bytes);
    expect(Buffer.from(webhookSecretKey('whsec_b2xk'))).toEqual(Buffer.from('old'));
    expect(Buffer.from(webhookSecretKey('whsec_bmV4dA'))).toEqual(Buffer.from('next'));
    expect(Buffer.from(webhookSecretKey('plain secret é'))).toEqual(Buffer.from('plain secret é', 'utf8'));
  });

  it.each([
    ['whsec_', /needs its base64 key/],
    ['whsec_!!!notbase64', /standard base64/],
    ['whsec_ab-_cd', /standard base64/],
    ['whsec_a', /standard base64/],
    ['whsec_ab==cd', /standard base64/],
    ['whsec_ b2xk', /standard base64/],
    ['', /must not be empty/],
  ])('refuses %j, saying why without repeating it', (secret, why) => {
    const problem = webhookSecretProblem(secret);
    expect(problem).toMatch(why);
    if (secret.length > 10) expect(problem).not.toContain(secret.slice(6));
    expect(() => webhookSecretKey(secret)).toThrow(TypeError);
  });

  it('signs and verifies alike for every secret it accepts (Offload signs, offload/receiver verifies)', async () => {
    const secrets = fc.oneof(
      fc.uint8Array({ minLength: 1, maxLength: 64 }).map((b) => `whsec_${Buffer.from(b).toString('base64')}`),
      fc.uint8Array({ minLength: 1, maxLength: 64 }).map((b) => `whsec_${Buffer.from(b).toString('base64').replace(/=+$/, '')}`),
      fc.string({ minLength: 1, maxLength: 40 }).filter((s) => !s.startsWith('whsec_')),
      fc.string({ maxLength: 40 }).map((s) => `whsec_${s}`),
    );
    await fc.assert(fc.asyncProperty(secrets, fc.string({ maxLength: 200 }), async (secret, body) => {
      if (webhookSecretProblem(secret)) {
        expect(() => signatureHeaders([secret], 'msg-1', body, 1_700_000_000_000)).toThrow(TypeError);
        return;
      }
      const headers = signatureHeaders([secret], 'msg-1', body, 1_700_000_000_000);
      const verdict = await createSignatureVerifier([secret], 300).verify(
        { id: headers['webhook-id'], timestamp: headers['webhook-timestamp'], signature: headers['webhook-signature'] },
        new TextEncoder().encode(body),
        1_700_000_000_000,
      );
      expect(verdict).toBeUndefined();
    }), { numRuns: 300 });
  });
});
