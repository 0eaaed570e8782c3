import { afterAll } from 'vitest';
import { join } from 'node:path';
import { createSqliteStore } from '../../src/storage/sqlite/sqlite-store.js';
import { tempDir } from '../support/temp.js';
import { describeStoreConformance } from './conformance.js';

const dir = tempDir();
afterAll(() => dir.cleanup());
let n = 0;

describeStoreConformance('sqlite', async (clock) => createSqliteStore({ path: join(dir.path, `store-${n++}.db`), clock }));
