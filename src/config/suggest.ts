import type { z } from 'zod';

/**
 * "Did you mean" for configuration keys: an unrecognized key close to one the schema accepts
 * (a typo: `concurency`, `timout`) is told the key it probably meant.
 */

/** Every key some object of the schema accepts, found by walking the schema's definitions. */
export function schemaKeys(schema: z.ZodType): ReadonlySet<string> {
  const keys = new Set<string>();
  const seen = new Set<unknown>();
  const visit = (value: unknown): void => {
    if (!isSchema(value) || seen.has(value)) return;
    seen.add(value);
    const def = value._zod.def as unknown as Record<string, unknown>;
    if (def.type === 'object' && def.shape && typeof def.shape === 'object') {
      for (const [key, child] of Object.entries(def.shape)) {
        keys.add(key);
        visit(child);
      }
    }
    for (const [name, child] of Object.entries(def)) {
      if (name === 'shape') continue;
      if (Array.isArray(child)) child.forEach(visit);
      else visit(child);
    }
  };
  visit(schema);
  return keys;
}

/**
 * The keys the objects at `path` in the schema accept (several objects where a union allows
 * several shapes there), or null when the path cannot be followed.
 */
export function keysAt(schema: z.ZodType, path: readonly PropertyKey[]): ReadonlySet<string> | null {
  let here: unknown[] = [schema];
  for (const segment of path) {
    here = here.flatMap(unwrap).flatMap((node) => {
      const def = node._zod.def as unknown as Record<string, unknown>;
      if (def.type === 'object') return [(def.shape as Record<string, unknown>)[String(segment)]].filter(isSchema);
      if (def.type === 'record') return [def.valueType].filter(isSchema);
      if (def.type === 'array') return [def.element].filter(isSchema);
      return [];
    });
    if (here.length === 0) return null;
  }
  const keys = new Set<string>();
  for (const node of here.flatMap(unwrap)) {
    const def = node._zod.def as unknown as Record<string, unknown>;
    if (def.type === 'object') for (const key of Object.keys(def.shape as object)) keys.add(key);
  }
  return keys.size > 0 ? keys : null;
}

/** The schemas a wrapper stands for: optional, default, pipe, union and the like, down to what holds keys. */
function unwrap(node: unknown): Array<{ _zod: { def: object } }> {
  if (!isSchema(node)) return [];
  const def = node._zod.def as unknown as Record<string, unknown>;
  if (def.type === 'union') return (def.options as unknown[]).flatMap(unwrap);
  for (const inner of ['innerType', 'in', 'schema']) if (isSchema(def[inner])) return unwrap(def[inner]);
  if (def.type === 'lazy' && typeof def.getter === 'function') return unwrap((def.getter as () => unknown)());
  return [node];
}

function isSchema(value: unknown): value is { _zod: { def: object } } {
  return typeof value === 'object' && value !== null && '_zod' in value && typeof (value as { _zod?: { def?: unknown } })._zod?.def === 'object';
}

/** The known key closest to `key` when it is a likely typo of it (at most 2 edits, and fewer than a third of its length), or null. */
export function closestKey(key: string, known: Iterable<string>): string | null {
  let best: string | null = null;
  let bestDistance = Infinity;
  const lower = key.toLowerCase();
  for (const candidate of known) {
    const distance = editDistance(lower, candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best !== null && bestDistance <= 2 && bestDistance * 3 < Math.max(key.length, best.length) && best !== key ? best : null;
}

/** Levenshtein distance, with a swap of two neighbouring letters counted as one edit. */
function editDistance(a: string, b: string): number {
  const rows = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(rows[i - 1]![j]! + 1, rows[i]![j - 1]! + 1, rows[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, rows[i - 2]![j - 2]! + 1);
      rows[i]![j] = d;
    }
  }
  return rows[a.length]![b.length]!;
}
