import { describe, expect, it } from 'vitest';
import { createEventTokens } from './event-tokens.js';

describe('event stream tokens', () => {
  it('accepts a token it issued for one minute, then refuses it', () => {
    let now = 1_000;
    const tokens = createEventTokens({ now: () => now });
    const { token, expiresAt } = tokens.issue();
    expect(expiresAt).toBe(61_000);
    expect(tokens.verify(token)).toBe(true);
    now = 60_999;
    expect(tokens.verify(token)).toBe(true);
    now = 61_000;
    expect(tokens.verify(token)).toBe(false);
  });

  it('refuses a forged, altered or foreign token', () => {
    const tokens = createEventTokens({ now: () => 0 });
    const other = createEventTokens({ now: () => 0 });
    const { token } = tokens.issue();
    const [expires, nonce, signature] = token.split('.');
    expect(tokens.verify(`${Number(expires) + 60_000}.${nonce}.${signature}`)).toBe(false);
    expect(tokens.verify(`${expires}.${nonce}.${signature!.slice(1)}x`)).toBe(false);
    expect(tokens.verify(other.issue().token)).toBe(false);
    expect(tokens.verify('')).toBe(false);
    expect(tokens.verify('not-a-token')).toBe(false);
  });
});
