/*
 * Helpers for migrations whose SQL is derived from the frozen text of earlier ones: a function
 * redefined with a few statements changed is written as the earlier definition plus the edits,
 * each of which must apply, so that a derivation that no longer matches fails loudly at startup
 * (and in every test) instead of creating a function that differs in more than the edits.
 */

/** The `CREATE [OR REPLACE] FUNCTION name(` statement of a migration, up to its closing `$fn$;`. */
export function functionIn(migration: string, name: string, label: string): string {
  const start = migration.search(new RegExp(`CREATE (OR REPLACE )?FUNCTION ${name}\\(`));
  const end = migration.indexOf('$fn$;', start);
  if (start < 0 || end < 0) throw new Error(`${label}: no function ${name} to derive from`);
  return migration.slice(start, end + '$fn$;'.length);
}

/** `sql` with each [from, to] replaced once; a `from` that is not there is a broken derivation. */
export function replaced(sql: string, edits: ReadonlyArray<readonly [string, string]>, label: string): string {
  return edits.reduce((text, [from, to]) => {
    if (!text.includes(from)) throw new Error(`${label}: text to replace not found: ${from.slice(0, 80)}`);
    return text.replace(from, () => to);
  }, sql);
}

/** The edit that turns a function's first definition into a replacement of it. */
export const asReplacement = (name: string): readonly [string, string] => [`CREATE FUNCTION ${name}(`, `CREATE OR REPLACE FUNCTION ${name}(`];
