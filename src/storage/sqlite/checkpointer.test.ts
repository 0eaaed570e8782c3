import Database from 'better-sqlite3';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { createCheckpointer, type Checkpointer } from './checkpointer.js';
import { until } from '../../../test/support/until.js';

const dirs: string[] = [];
const open: Array<{ db: Database.Database; checkpointer: Checkpointer }> = [];
afterEach(async () => {
  for (const { db, checkpointer } of open.splice(0)) {
    await checkpointer.close();
    db.close();
  }
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function database() {
  const dir = mkdtempSync(join(tmpdir(), 'offload-checkpoint-'));
  dirs.push(dir);
  const path = join(dir, 'store.db');
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT NOT NULL)');
  return { db, path };
}

/** Commits `count` rows of 4 KB each, one transaction each. */
function write(db: Database.Database, count: number) {
  const insert = db.prepare('INSERT INTO t (body) VALUES (?)');
  for (let i = 0; i < count; i++) insert.run('x'.repeat(4000));
}

const autocheckpoint = (db: Database.Database) => db.pragma('wal_autocheckpoint', { simple: true }) as number;

describe('WAL checkpoints in a worker thread', () => {
  it('starts once the log passes its size; the worker copies commits into the database file while the store never checkpoints', async () => {
    const { db, path } = database();
    const checkpointer = createCheckpointer(db, path, { startAtPages: 64, watchMs: 10, intervalMs: 20, backstopPages: 100_000 });
    open.push({ db, checkpointer });
    expect(autocheckpoint(db)).toBe(1000);
    const before = statSync(path).size;
    write(db, 100);
    await until('the worker starting', () => autocheckpoint(db) === 100_000);
    // 100 rows of 4 KB: the database file grows only through a checkpoint, and the store's own
    // connection no longer checkpoints below 100,000 pages.
    await until('the rows reaching the database file', () => statSync(path).size >= before + 100 * 4000);
    const rows = new Database(path, { readonly: true });
    try {
      expect(rows.prepare('SELECT count(*) AS n FROM t').get()).toEqual({ n: 100 });
    } finally {
      rows.close();
    }
  });

  it('keeps the log from growing under a steady stream of commits: it starts over every restartPages', async () => {
    const { db, path } = database();
    const checkpointer = createCheckpointer(db, path, { startAtPages: 64, watchMs: 10, intervalMs: 20, restartPages: 512, backstopPages: 100_000 });
    open.push({ db, checkpointer });
    write(db, 100);
    await until('the worker starting', () => autocheckpoint(db) === 100_000);
    const walSize = () => statSync(`${path}-wal`).size;
    // 80 MB of rows in rounds of 4 MB, the next round starting as soon as the last one began to
    // reach the database file. Without the RESTART checkpoints the log would hold all 20 rounds.
    const before = walSize();
    write(db, 1000);
    const round = walSize() - before;
    for (let i = 1; i < 20; i++) {
      const size = statSync(path).size;
      write(db, 1000);
      await until(`round ${i} reaching the database file`, () => statSync(path).size > size);
    }
    expect(walSize()).toBeLessThan(before + 6 * round);
  });

  it('starts nothing for a store that stays small, and closes cleanly either way', async () => {
    const { db, path } = database();
    const checkpointer = createCheckpointer(db, path, { startAtPages: 100_000, watchMs: 10 });
    write(db, 10);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(autocheckpoint(db)).toBe(1000);
    await checkpointer.close();
    db.close();
  });

  it('keeps the process alive until the worker has exited, when closing is the last thing a program does', async () => {
    const { db, path } = database();
    db.close();
    // A program of its own: the test runner's process would stay alive for other reasons.
    const program = `
      import Database from 'better-sqlite3';
      import { createCheckpointer } from ${JSON.stringify(fileURLToPath(new URL('./checkpointer.ts', import.meta.url)))};
      const db = new Database(${JSON.stringify(path)});
      const checkpointer = createCheckpointer(db, ${JSON.stringify(path)}, { startAtPages: 16, watchMs: 5, intervalMs: 5 });
      const insert = db.prepare('INSERT INTO t (body) VALUES (?)');
      while (db.pragma('wal_autocheckpoint', { simple: true }) !== 100000) {
        for (let i = 0; i < 50; i++) insert.run('x'.repeat(4000));
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      await checkpointer.close();
      db.close();
      console.log('closed');`;
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', program], { cwd: fileURLToPath(new URL('../../..', import.meta.url)) });
    expect(stdout.trim()).toBe('closed');
  });
});
