import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(import.meta.url);

/**
 * `name x.y.z` of an installed package, for the report. Read from the folder the package
 * resolves to, since a package's `exports` may not list its package.json.
 */
export function packageVersion(name: string): string {
  let dir = path.dirname(require.resolve(name));
  while (path.basename(dir) !== name.split('/').at(-1) && path.dirname(dir) !== dir) dir = path.dirname(dir);
  const manifest = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { version?: string };
  return `${name} ${manifest.version ?? 'unknown'}`;
}
