/**
 * What a message may set in `metadata.headers`, and how the headers of a delivery are put
 * together. A message never sets a header Offload owns, one that changes how the request travels
 * or who it claims to come from, or one the endpoint's configuration sets (its credentials).
 */

/** Limits on a message's own headers. */
export const MESSAGE_HEADER_LIMITS = {
  /** Headers per message. */
  count: 32,
  /** Characters of one name. */
  nameLength: 64,
  /** Characters of one value. */
  valueLength: 4_096,
  /** Names plus values of every header of one message. */
  totalBytes: 8_192,
} as const;

/** Exact names a message may not set (lower case). */
const RESERVED = new Set([
  'host',
  'content-length',
  'content-type',
  'content-encoding',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'upgrade',
  'expect',
  'te',
  'trailer',
  'authorization',
  'cookie',
  'set-cookie',
  'forwarded',
  'via',
  'x-real-ip',
  'idempotency-key',
  'traceparent',
  'tracestate',
  'user-agent',
  'http2-settings',
]);
/** Families of names a message may not set: proxies, forwarding, CloudEvents binary mode, Standard Webhooks, Offload's own (lane position). */
const RESERVED_PREFIXES = ['proxy-', 'x-forwarded-', 'ce-', 'webhook-', 'sec-', 'offload-', ':'];

/** RFC 9110 token. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** RFC 9110 field-value: visible ASCII, space, tab and obs-text; no CR, LF or NUL (so no obs-fold). */
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

/**
 * Exact names (lower case) and families an endpoint's configured headers may not set either: they
 * change how the request travels, or Offload sets them itself (the body's type, the idempotency
 * key, trace context, CloudEvents binary mode, Standard Webhooks, lane positions). Credentials
 * (`Authorization`, `Cookie`, an API key header) are what configured headers are for.
 */
const NOT_CONFIGURABLE = new Set(['host', 'content-length', 'content-type', 'content-encoding', 'transfer-encoding', 'connection', 'keep-alive', 'upgrade', 'expect', 'te', 'trailer', 'http2-settings', 'idempotency-key', 'traceparent', 'tracestate', 'user-agent']);
const NOT_CONFIGURABLE_PREFIXES = ['ce-', 'webhook-', 'offload-', ':'];

/** Why an endpoint's configuration cannot set this header, or undefined when it can. */
export function configuredHeaderProblem(name: string): string | undefined {
  const nameProblem = headerNameProblem(name);
  if (nameProblem) return nameProblem;
  const lower = name.toLowerCase();
  if (NOT_CONFIGURABLE.has(lower) || NOT_CONFIGURABLE_PREFIXES.some((p) => lower.startsWith(p))) return `'${name}' is set by Offload or changes how the request travels; an endpoint cannot set it`;
  return undefined;
}

export function isReservedHeader(name: string): boolean {
  const lower = name.toLowerCase();
  return RESERVED.has(lower) || RESERVED_PREFIXES.some((p) => lower.startsWith(p));
}

/** Why a header name cannot be sent, or undefined when it can. */
export function headerNameProblem(name: string): string | undefined {
  if (name.length === 0 || name.length > MESSAGE_HEADER_LIMITS.nameLength || !TOKEN.test(name)) {
    return `'${printable(name)}' is not a header name: use 1-${MESSAGE_HEADER_LIMITS.nameLength} letters, digits and !#$%&'*+.^_\`|~-`;
  }
  return undefined;
}

/** Why a header value cannot be sent, or undefined when it can. */
export function headerValueProblem(value: string): string | undefined {
  if (value.length > MESSAGE_HEADER_LIMITS.valueLength) return `the value is ${value.length} characters; at most ${MESSAGE_HEADER_LIMITS.valueLength}`;
  if (!FIELD_VALUE.test(value)) return 'the value holds a character a header cannot carry (CR, LF, NUL, another control character, or one beyond U+00FF)';
  if (/^[\t ]|[\t ]$/.test(value)) return 'the value starts or ends with whitespace, which HTTP would strip';
  return undefined;
}

export interface HeaderIssue {
  /** The header's name as given, or '' for a problem with the headers as a whole. */
  name: string;
  message: string;
}

/**
 * Every reason the headers of one message cannot be accepted. `configured` are the lower-case
 * names the endpoint(s) of the channel set themselves: a message may neither replace nor repeat them.
 */
export function messageHeaderIssues(headers: Readonly<Record<string, string>>, configured: ReadonlySet<string>): HeaderIssue[] {
  const issues: HeaderIssue[] = [];
  const entries = Object.entries(headers);
  if (entries.length > MESSAGE_HEADER_LIMITS.count) issues.push({ name: '', message: `${entries.length} headers; at most ${MESSAGE_HEADER_LIMITS.count} per message` });
  let bytes = 0;
  const seen = new Set<string>();
  for (const [name, value] of entries) {
    bytes += Buffer.byteLength(name) + Buffer.byteLength(value);
    const lower = name.toLowerCase();
    const nameProblem = headerNameProblem(name);
    if (nameProblem) issues.push({ name, message: nameProblem });
    else if (isReservedHeader(lower)) issues.push({ name, message: `'${name}' is set by Offload or changes how the request travels; a message cannot set it${lower === 'traceparent' || lower === 'tracestate' ? ' (use metadata.traceparent)' : ''}` });
    else if (configured.has(lower)) issues.push({ name, message: `'${name}' is set by the endpoint's configuration; a message cannot replace or repeat it` });
    else if (seen.has(lower)) issues.push({ name, message: `'${name}' is given twice (header names are case-insensitive)` });
    seen.add(lower);
    const valueProblem = headerValueProblem(value);
    if (valueProblem) issues.push({ name, message: `header '${printable(name)}': ${valueProblem}` });
  }
  if (bytes > MESSAGE_HEADER_LIMITS.totalBytes) issues.push({ name: '', message: `headers total ${bytes} bytes; at most ${MESSAGE_HEADER_LIMITS.totalBytes} per message` });
  return issues;
}

/**
 * The headers of one delivery. The message's own headers come first and only where they are
 * valid, not reserved and not configured (messages stored before these rules existed are
 * filtered here too); the endpoint's configured headers replace anything of the same name,
 * whatever its case; Offload's own headers come last.
 */
export function deliveryHeaders(configured: Readonly<Record<string, string>>, message: Readonly<Record<string, string>> | undefined, own: Readonly<Record<string, string>>): Record<string, string> {
  // No prototype: a header named like an Object property must not be mistaken for one.
  const out = Object.create(null) as Record<string, string>;
  if (message) {
    const configuredNames = new Set(Object.keys(configured).map((n) => n.toLowerCase()));
    for (const [name, value] of Object.entries(message)) {
      const lower = name.toLowerCase();
      if (configuredNames.has(lower) || isReservedHeader(lower) || headerNameProblem(name) || headerValueProblem(value) || Object.hasOwn(out, lower)) continue;
      out[lower] = value;
    }
  }
  for (const [name, value] of Object.entries(configured)) out[name.toLowerCase()] = value;
  for (const [name, value] of Object.entries(own)) out[name.toLowerCase()] = value;
  return out;
}

function printable(text: string): string {
  return JSON.stringify(text.length > 64 ? `${text.slice(0, 61)}...` : text).slice(1, -1);
}
