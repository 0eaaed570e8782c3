/**
 * Subscription filters: which events of its topic a subscription receives. A filter lists type
 * patterns and, optionally, key patterns; an event is delivered when its type matches one of the
 * type patterns and, when keys are given, its key matches one of the key patterns (an event
 * without a key then never matches). A pattern is matched against the whole value, case
 * sensitively; `*` stands for any run of characters (none included) and is the only wildcard, so
 * every other character, `?`, `[`, `%` and `_` included, stands for itself.
 *
 * The stores match in SQL when an event is published (one delivery row per matching
 * subscription, none for the others); `matchesFilter` is the same rule in TypeScript.
 */

export interface SubscriptionFilter {
  /** Type patterns: at least one. */
  types: readonly string[];
  /** Key patterns; absent: any key, or none. */
  keys?: readonly string[];
}

/** At most this many patterns per list (`types`, `keys`). */
export const MAX_FILTER_PATTERNS = 100;
/** At most this many characters per pattern: the length of the longest type or key. */
export const MAX_PATTERN_LENGTH = 200;

const PATTERN = /^[\x21-\x7e]+$/;

/** What is wrong with a pattern list, or null when it is usable. */
export function patternListProblem(patterns: readonly string[]): string | null {
  if (patterns.length === 0) return 'give at least one pattern (a filter that matches nothing would receive nothing)';
  if (patterns.length > MAX_FILTER_PATTERNS) return `at most ${MAX_FILTER_PATTERNS} patterns`;
  return null;
}

/** What is wrong with one pattern, or null when it is usable. */
export function patternProblem(pattern: string): string | null {
  if (pattern.length === 0) return 'a pattern cannot be empty';
  if (pattern.length > MAX_PATTERN_LENGTH) return `a pattern is at most ${MAX_PATTERN_LENGTH} characters`;
  if (!PATTERN.test(pattern)) return `'${pattern}' is not a pattern: use printable ASCII characters without spaces, '*' for any run of characters`;
  return null;
}

/** Whether an event of this type and key passes the filter (null: no filter, everything passes). */
export function matchesFilter(filter: SubscriptionFilter | null | undefined, type: string, key: string | null): boolean {
  if (!filter) return true;
  if (!filter.types.some((p) => globMatches(p, type))) return false;
  if (filter.keys === undefined) return true;
  return key !== null && filter.keys.some((p) => globMatches(p, key));
}

function globMatches(pattern: string, value: string): boolean {
  const parts = pattern.split('*');
  if (parts.length === 1) return pattern === value;
  const first = parts[0]!;
  const last = parts[parts.length - 1]!;
  if (value.length < first.length + last.length || !value.startsWith(first) || !value.endsWith(last)) return false;
  let at = first.length;
  const end = value.length - last.length;
  for (const middle of parts.slice(1, -1)) {
    const found = value.indexOf(middle, at);
    if (found < 0 || found + middle.length > end) return false;
    at = found + middle.length;
  }
  return true;
}
