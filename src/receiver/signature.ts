import { webhookSecretKey } from './webhook-secret.js';
/**
 * Standard Webhooks verification with Web Crypto only, so the receiver runs unchanged on Node,
 * Bun, Deno and Cloudflare Workers. Offload signs `id.timestamp.body` with HMAC-SHA256; a
 * `whsec_<base64>` secret is the decoded bytes, any other string is used as its UTF-8 bytes
 * (the same rule as the sender). `crypto.subtle.verify` compares in constant time.
 */

export type SignatureFailure =
  | { reason: 'missing-headers'; detail: string }
  | { reason: 'timestamp'; detail: string }
  | { reason: 'signature'; detail: string };

export interface SignatureHeaders {
  id: string | undefined;
  timestamp: string | undefined;
  signature: string | undefined;
}

export interface SignatureVerifier {
  /** Resolves undefined when the request is authentic and fresh, otherwise why not. */
  verify(headers: SignatureHeaders, body: Uint8Array, nowMs: number): Promise<SignatureFailure | undefined>;
}

const encoder = new TextEncoder();

export function createSignatureVerifier(secrets: readonly string[], toleranceSeconds: number): SignatureVerifier {
  let keys: Promise<Array<Awaited<ReturnType<typeof crypto.subtle.importKey>>>> | undefined;
  const importKeys = () =>
    (keys ??= Promise.all(
      secrets.map((secret) => crypto.subtle.importKey('raw', webhookSecretKey(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['verify'])),
    ));

  return {
    async verify(headers, body, nowMs) {
      const { id, timestamp, signature } = headers;
      if (!id || !timestamp || !signature) {
        return { reason: 'missing-headers', detail: 'webhook-id, webhook-timestamp and webhook-signature headers are required' };
      }
      // Seconds since the epoch, digits only: anything else cannot have been produced by a sender.
      const seconds = /^\d{1,12}$/.test(timestamp) ? Number(timestamp) : Number.NaN;
      if (!Number.isFinite(seconds)) return { reason: 'timestamp', detail: 'webhook-timestamp is not a number of seconds' };
      const skew = Math.abs(nowMs / 1000 - seconds);
      if (skew > toleranceSeconds) {
        return { reason: 'timestamp', detail: `webhook-timestamp is ${Math.round(skew)}s away from now; the window is ${toleranceSeconds}s (replayed request, or a clock off)` };
      }
      const candidates = parseSignatures(signature);
      if (candidates.length === 0) return { reason: 'signature', detail: 'webhook-signature has no v1 signature' };
      const signed = concat(encoder.encode(`${id}.${timestamp}.`), body);
      const imported = await importKeys();
      let valid = false;
      // Every pair is checked so the time taken says nothing about which secret or signature matched.
      for (const key of imported) {
        for (const candidate of candidates) {
          if (await crypto.subtle.verify('HMAC', key, candidate, signed)) valid = true;
        }
      }
      return valid ? undefined : { reason: 'signature', detail: 'no signature matches any configured secret' };
    },
  };
}

/** `v1,<base64> v1,<base64>`; other versions and malformed entries are ignored. */
function parseSignatures(header: string): Array<Uint8Array<ArrayBuffer>> {
  const out: Array<Uint8Array<ArrayBuffer>> = [];
  for (const entry of header.split(' ')) {
    const comma = entry.indexOf(',');
    if (comma < 0 || entry.slice(0, comma) !== 'v1') continue;
    const bytes = base64Bytes(entry.slice(comma + 1));
    if (bytes !== undefined && bytes.length === 32) out.push(bytes);
  }
  // Bounded: a header with thousands of entries must not cost thousands of HMACs.
  return out.slice(0, 16);
}

function base64Bytes(text: string): Uint8Array<ArrayBuffer> | undefined {
  try {
    const binary = atob(text);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes;
  } catch {
    return undefined;
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}
