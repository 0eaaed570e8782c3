import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const here = dirname(fileURLToPath(import.meta.url));

describe('offload/receiver boundary', () => {
  it('imports at run time only its own files: no server, storage, delivery, driver or framework code', () => {
    const sources = readdirSync(here).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'));
    const runtimeImports: string[] = [];
    for (const file of sources) {
      const text = readFileSync(join(here, file), 'utf8');
      for (const match of text.matchAll(/^\s*(import|export)\s+(type\s+)?[^'"]*?from\s+['"]([^'"]+)['"]/gm)) {
        const [, , typeOnly, specifier] = match;
        if (typeOnly === undefined && !/^\.\/[a-z-]+\.js$/.test(specifier!)) runtimeImports.push(`${file}: ${specifier}`);
      }
    }
    expect(sources.length).toBeGreaterThan(5);
    expect(runtimeImports).toEqual([]);
  });
});
