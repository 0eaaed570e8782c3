import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/** `name x.y.z` of an installed package, for the report. */
export function packageVersion(name: string): string {
  const manifest = require(`${name}/package.json`) as { version?: string };
  return `${name} ${manifest.version ?? 'unknown'}`;
}
