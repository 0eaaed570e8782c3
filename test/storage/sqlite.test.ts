import { afterAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { createSqliteStore } from '../../src/storage/sqlite/sqlite-store.js';
import { tempDir } from '../support/temp.js';
import { describeStoreConformance } from './conformance.js';
import { describeFlowConformance } from './conformance-flow.js';

const dir = tempDir();
afterAll(() => dir.cleanup());
let n = 0;

describeStoreConformance('sqlite', async (clock) => createSqliteStore({ path: join(dir.path, `store-${n++}.db`), clock }));
describeFlowConformance('sqlite', async (clock) => createSqliteStore({ path: join(dir.path, `store-${n++}.db`), clock }));

describe('sqlite wake-ups', () => {
  it('names the targets with new work as soon as a send commits', async () => {
    const store = createSqliteStore({ path: join(dir.path, `wake-${n++}.db`) });
    await store.declare([
      { name: 'q', kind: 'queue' },
      { name: 't', kind: 'topic' },
      { name: 't/a', kind: 'subscription', topic: 't', ordering: 'topic' },
      { name: 't/b', kind: 'subscription', topic: 't', ordering: 'key' },
    ]);
    const woken: string[][] = [];
    const stop = store.onWake((targets) => woken.push(targets));
    const message = (id: string) => ({ id, key: null, type: 't', data: '{}', metadata: {}, deliverAt: null });
    await store.send('q', [message('m1')]);
    await store.send('t', [message('e1')]);
    stop();
    await store.send('q', [message('m2')]);
    expect(woken).toEqual([['q'], ['t/a', 't/b']]);
    await store.close();
  });
});
