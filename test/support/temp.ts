import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onTestFinished } from 'vitest';

/** A fresh folder for a test's SQLite files, removed by the returned cleanup. */
export function tempDir(prefix = 'offload-'): { path: string; cleanup: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, cleanup: () => rmSync(path, { recursive: true, force: true }) };
}

/** A fresh folder removed when the current test ends. */
export function testDir(prefix = 'offload-'): string {
  const dir = tempDir(prefix);
  onTestFinished(() => dir.cleanup());
  return dir.path;
}
