import { createHmac, timingSafeEqual } from 'node:crypto';
import { webhookSecretKey } from '../receiver/webhook-secret.js';

/**
 * Standard Webhooks signatures: HMAC-SHA256 over `id.timestamp.body`, base64, prefixed `v1,`.
 * Secrets are `whsec_<base64>` (the key is the decoded bytes) or any other string (used as is):
 * `webhookSecretKey`, the receiver's rule too; configurations with any other secret are refused.
 * Several secrets (during rotation) give several space-separated signatures.
 */
export function signatureHeaders(secrets: readonly string[], id: string, body: string, nowMs: number): Record<string, string> {
  const timestamp = Math.floor(nowMs / 1000).toString();
  const signatures = secrets.map((secret) => `v1,${sign(secret, id, timestamp, body)}`);
  return { 'webhook-id': id, 'webhook-timestamp': timestamp, 'webhook-signature': signatures.join(' ') };
}

function sign(secret: string, id: string, timestamp: string, body: string): string {
  return createHmac('sha256', webhookSecretKey(secret)).update(`${id}.${timestamp}.${body}`).digest('base64');
}

/**
 * Verifies Standard Webhooks headers (for receivers and Offload's own tests): constant-time
 * comparison, and a replay window on the timestamp (default 5 minutes).
 */
export function verifySignature(
  secret: string,
  headers: { id: string; timestamp: string; signature: string },
  body: string,
  nowMs: number,
  toleranceMs = 300_000,
): boolean {
  const ts = Number(headers.timestamp);
  if (!Number.isFinite(ts) || Math.abs(nowMs - ts * 1000) > toleranceMs) return false;
  const expected = Buffer.from(sign(secret, headers.id, headers.timestamp, body));
  return headers.signature.split(' ').some((candidate) => {
    const [version, value] = candidate.split(',', 2);
    if (version !== 'v1' || value === undefined) return false;
    const given = Buffer.from(value);
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
}
