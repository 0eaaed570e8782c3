/**
 * Finds where values sit in JSON text, so a message's `data` can be kept exactly as the producer
 * wrote it (`1.0` stays `1.0`, `"\u00e9"` keeps its escape) instead of being parsed and written
 * again. The text must already be valid JSON (the parser has accepted it): this only walks it.
 */

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const COMMA = 0x2c;
const COLON = 0x3a;

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

function skipSpace(text: string, i: number): number {
  while (i < text.length && isSpace(text.charCodeAt(i))) i++;
  return i;
}

/** The index just past the string starting at `i` (a quote). */
function endOfString(text: string, i: number): number {
  let at = i + 1;
  for (;;) {
    const quote = text.indexOf('"', at);
    if (quote < 0) return text.length;
    // A quote is escaped when an odd number of backslashes precede it.
    let slashes = 0;
    while (text.charCodeAt(quote - 1 - slashes) === BACKSLASH) slashes++;
    if (slashes % 2 === 0) return quote + 1;
    at = quote + 1;
  }
}

/** The index just past the value starting at `i` (no leading space). */
function endOfValue(text: string, i: number): number {
  const c = text.charCodeAt(i);
  if (c === QUOTE) return endOfString(text, i);
  if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
    let depth = 0;
    for (let at = i; at < text.length; at++) {
      const d = text.charCodeAt(at);
      if (d === QUOTE) at = endOfString(text, at) - 1;
      else if (d === OPEN_OBJECT || d === OPEN_ARRAY) depth++;
      else if (d === CLOSE_OBJECT || d === CLOSE_ARRAY) {
        depth--;
        if (depth === 0) return at + 1;
      }
    }
    return text.length;
  }
  // A number, true, false or null: runs until a delimiter.
  let at = i;
  while (at < text.length) {
    const d = text.charCodeAt(at);
    if (d === COMMA || d === CLOSE_OBJECT || d === CLOSE_ARRAY || isSpace(d)) break;
    at++;
  }
  return at;
}

/** The text of the member `name` of the object starting at `i`; the last one wins, as in JSON.parse. */
function memberText(text: string, i: number, name: string): { start: number; end: number } | undefined {
  if (text.charCodeAt(i) !== OPEN_OBJECT) return undefined;
  let found: { start: number; end: number } | undefined;
  let at = skipSpace(text, i + 1);
  while (at < text.length && text.charCodeAt(at) === QUOTE) {
    const keyEnd = endOfString(text, at);
    const rawKey = text.slice(at, keyEnd);
    // Keys are compared decoded: "d\u0061ta" names data too.
    const key = rawKey.includes('\\') ? (JSON.parse(rawKey) as string) : rawKey.slice(1, -1);
    at = skipSpace(text, keyEnd);
    if (text.charCodeAt(at) !== COLON) return found;
    const start = skipSpace(text, at + 1);
    const end = endOfValue(text, start);
    if (key === name) found = { start, end };
    at = skipSpace(text, end);
    if (text.charCodeAt(at) !== COMMA) break;
    at = skipSpace(text, at + 1);
  }
  return found;
}

/** The text of each element of the array starting at `i`. */
function elements(text: string, i: number): Array<{ start: number; end: number }> {
  const out: Array<{ start: number; end: number }> = [];
  if (text.charCodeAt(i) !== OPEN_ARRAY) return out;
  let at = skipSpace(text, i + 1);
  while (at < text.length && text.charCodeAt(at) !== CLOSE_ARRAY) {
    const end = endOfValue(text, at);
    out.push({ start: at, end });
    at = skipSpace(text, end);
    if (text.charCodeAt(at) !== COMMA) break;
    at = skipSpace(text, at + 1);
  }
  return out;
}

/** The raw text of a message body's `data` member, if the body is an object that has one. */
export function rawDataOf(text: string): string | undefined {
  const span = memberText(text, skipSpace(text, 0), 'data');
  return span ? text.slice(span.start, span.end) : undefined;
}

/**
 * The raw text of `data` in each element of a batch body's `messages` array, by position
 * (undefined where the element is not an object or has no data).
 */
export function rawBatchDataOf(text: string): Array<string | undefined> {
  const messages = memberText(text, skipSpace(text, 0), 'messages');
  if (!messages) return [];
  return elements(text, messages.start).map((element) => {
    const span = memberText(text, element.start, 'data');
    return span ? text.slice(span.start, span.end) : undefined;
  });
}
