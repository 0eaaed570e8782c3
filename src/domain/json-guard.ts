/**
 * Checks JSON text before anything recursive (the parser, the serializer, a schema) walks it:
 * how deeply it nests and whether every number is one JSON can carry. One pass over the
 * characters with a counter, so a body nested a million levels costs no stack at all.
 */

export type JsonGuardResult =
  | { ok: true; depth: number }
  | { ok: false; reason: 'depth'; depth: number }
  | { ok: false; reason: 'number'; token: string };

const OPEN_OBJECT = 0x7b; // {
const OPEN_ARRAY = 0x5b; // [
const CLOSE_OBJECT = 0x7d; // }
const CLOSE_ARRAY = 0x5d; // ]
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const MINUS = 0x2d;

function isNumberChar(c: number): boolean {
  // digits, '.', 'e', 'E', '+', '-'
  return (c >= 0x30 && c <= 0x39) || c === 0x2e || c === 0x65 || c === 0x45 || c === 0x2b || c === MINUS;
}

/**
 * Depth counts nested objects and arrays: a scalar is 0, `{}` is 1, `{"a":[1]}` is 2. Stops at the
 * first container deeper than `maxDepth`. A number that only looks finite (`1e999`, 400 digits)
 * is reported, because parsing would turn it into Infinity and storing it into `null`.
 * Malformed text is not judged here; the parser reports it.
 */
export function guardJson(text: string, maxDepth: number): JsonGuardResult {
  let depth = 0;
  let deepest = 0;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      // Skip the string; escapes may hide quotes.
      for (i++; i < n; i++) {
        const s = text.charCodeAt(i);
        if (s === BACKSLASH) i++;
        else if (s === QUOTE) break;
      }
    } else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      depth++;
      if (depth > maxDepth) return { ok: false, reason: 'depth', depth };
      if (depth > deepest) deepest = depth;
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
      depth--;
    } else if (c === MINUS || (c >= 0x30 && c <= 0x39)) {
      const start = i;
      let exponent = false;
      while (i + 1 < n && isNumberChar(text.charCodeAt(i + 1))) {
        i++;
        const d = text.charCodeAt(i);
        if (d === 0x65 || d === 0x45) exponent = true;
      }
      // Doubles overflow only past ~1.8e308: short tokens without an exponent are always finite.
      if (exponent || i - start > 300) {
        const token = text.slice(start, i + 1);
        if (!Number.isFinite(Number(token))) return { ok: false, reason: 'number', token: token.length > 40 ? `${token.slice(0, 37)}...` : token };
      }
    }
  }
  return { ok: true, depth: deepest };
}

/** The nesting depth of JSON text, without limit (for rendering stored values safely). */
export function jsonDepthExceeds(text: string, maxDepth: number): boolean {
  const result = guardJson(text, maxDepth);
  return !result.ok && result.reason === 'depth';
}
