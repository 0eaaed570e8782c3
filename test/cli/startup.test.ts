import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** Every module `file` loads before running anything: static imports only (`import()` is lazy). */
function staticGraph(entry: string): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const visit = (file: string) => {
    if (files.has(file)) return;
    files.add(file);
    const source = readFileSync(file, 'utf8');
    for (const match of source.matchAll(/^import\s+(?!type\s)(?:[^'";]*?\s+from\s+)?'([^']+)';/gm)) {
      const specifier = match[1]!;
      if (specifier.startsWith('.')) visit(join(dirname(file), specifier.replace(/\.js$/, '.ts')));
      else if (!specifier.startsWith('node:')) packages.add(specifier.split('/')[0]!);
    }
  };
  visit(entry);
  return { files, packages };
}

describe('CLI start-up', () => {
  it('client commands load no part of the server: it is imported only when serve or check runs', () => {
    const { files, packages } = staticGraph(join(ROOT, 'src/cli/main.ts'));
    expect([...packages].sort()).toEqual(['commander']);
    const server = [...files].filter((f) => /src\/(server|storage|delivery|config)\/|src\/offload\.ts|cli\/serve\.ts/.test(f));
    expect(server).toEqual([]);
  });
});
