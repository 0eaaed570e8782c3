import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Short-lived tokens for the event stream. A browser's `EventSource` cannot send an
 * Authorization header, and an API key must never travel in a URL (it would land in logs and
 * history), so a key holder trades its key for a token valid for a minute, accepted as
 * `?token=` on `GET /v1/events` only. Tokens are signed with a secret drawn at start-up: no
 * state is kept, and a token from another instance (or from before a restart) is refused.
 */
export interface EventTokens {
  issue(): { token: string; expiresAt: number };
  /** True while the token is one this instance issued and has not expired. */
  verify(token: string): boolean;
}

export const EVENT_TOKEN_TTL_MS = 60_000;

export function createEventTokens(options: { now: () => number; ttlMs?: number; secret?: Buffer }): EventTokens {
  const secret = options.secret ?? randomBytes(32);
  const ttl = options.ttlMs ?? EVENT_TOKEN_TTL_MS;
  const sign = (payload: string) => createHmac('sha256', secret).update(payload).digest('base64url');
  return {
    issue() {
      const expiresAt = options.now() + ttl;
      const payload = `${expiresAt}.${randomBytes(9).toString('base64url')}`;
      return { token: `${payload}.${sign(payload)}`, expiresAt };
    },
    verify(token) {
      const at = token.lastIndexOf('.');
      if (at <= 0 || token.length > 200) return false;
      const payload = token.slice(0, at);
      const given = Buffer.from(token.slice(at + 1));
      const expected = Buffer.from(sign(payload));
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) return false;
      const expiresAt = Number(payload.slice(0, payload.indexOf('.')));
      return Number.isSafeInteger(expiresAt) && options.now() < expiresAt;
    },
  };
}
