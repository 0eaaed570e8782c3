/**
 * The key a signing secret stands for, one rule for Offload (which signs) and `offload/receiver`
 * (which verifies): `whsec_<base64>` is the decoded bytes (standard base64, `=` padding optional,
 * as Standard Webhooks writes it), any other string is its UTF-8 bytes. Web APIs only, so the
 * receiver runs on any runtime.
 */

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const encoder = new TextEncoder();

/** Why `secret` cannot sign, or undefined when it can. Never repeats the secret. */
export function webhookSecretProblem(secret: string): string | undefined {
  if (secret.length === 0) return 'a signing secret must not be empty';
  if (!secret.startsWith('whsec_')) return undefined;
  const encoded = secret.slice(6);
  if (encoded.length === 0) return 'a whsec_ secret needs its base64 key after the prefix';
  if (!BASE64.test(encoded) || decode(encoded) === undefined) {
    return 'a whsec_ secret must be standard base64 after the prefix (A-Z, a-z, 0-9, + and /, then = padding at most), as Standard Webhooks writes it';
  }
  return undefined;
}

/** The HMAC key of a secret `webhookSecretProblem` accepts. Throws for any other. */
export function webhookSecretKey(secret: string): Uint8Array<ArrayBuffer> {
  const problem = webhookSecretProblem(secret);
  if (problem) throw new TypeError(problem);
  return secret.startsWith('whsec_') ? decode(secret.slice(6))! : encoder.encode(secret);
}

function decode(text: string): Uint8Array<ArrayBuffer> | undefined {
  let binary: string;
  try {
    binary = atob(text);
  } catch {
    return undefined;
  }
  if (binary.length === 0) return undefined;
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}
