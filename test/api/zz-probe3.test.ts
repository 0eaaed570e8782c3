import { afterAll, it } from 'vitest';
import { startOffload, type TestOffload } from '../support/offload.js';
import { runCli } from '../support/cli.js';

let offload: TestOffload;
afterAll(() => offload?.stop?.());
it('cli', async () => {
  offload = await startOffload({
    endpoints: { app: { url: 'http://127.0.0.1:9' } },
    queues: { jobs: { endpoint: 'app', asyncTimeout: '1h' } },
    topics: { events: { subscriptions: { model: { endpoint: 'app', path: '/model' } } } },
  });
  const env = { OFFLOAD_URL: offload.url };
  for (const args of [
    ['subscriptions', 'seek', 'events', 'model', '--sequence', '0'],
    ['subscriptions', 'seek', 'events', 'model', '--sequence', '-1'],
    ['subscriptions', 'seek', 'events', 'model', '--sequence', '1.5'],
    ['subscriptions', 'seek', 'events', 'model', '--sequence', 'abc'],
    ['subscriptions', 'seek', 'events', 'model', '--sequence', '1e308'],
    ['subscriptions', 'seek', 'events', 'model', '--sequence', '1', '--time', '2026-01-01T00:00:00Z'],
    ['subscriptions', 'seek', 'events', 'model', '--time', 'yesterday'],
    ['subscriptions', 'seek', 'events', 'model', '--time', 'yesterday', '--json'],
    ['subscriptions', 'seek', 'nope', 'model', '--sequence', '1'],
    ['subscriptions', 'seek', 'nope', 'model', '--sequence', '1', '--json'],
    ['subscriptions', 'seek', 'events', 'model', '--sequence', '1'],
    ['subscriptions', 'seek', 'events', 'model', '--sequence', '1', '--json'],
    ['complete', 'nonsense'],
    ['complete', 'nonsense', '--json'],
    ['complete', '1.1.AAAAAAAAAAAAAAAAAAAAAA'],
    ['complete', '1.1.AAAAAAAAAAAAAAAAAAAAAA', '--outcome', 'done'],
    ['complete', '1.1.AAAAAAAAAAAAAAAAAAAAAA', '--outcome', 'permanent'],
    ['complete', '1.1.AAAAAAAAAAAAAAAAAAAAAA', '--retry-after', '-5'],
    ['complete', '1.1.AAAAAAAAAAAAAAAAAAAAAA', '--outcome', 'retry', '--retry-after', '999999'],
    ['complete', '1.1.AAAAAAAAAAAAAAAAAAAAAA', '--outcome', 'retry', '--reason', 'x'.repeat(2000)],
    ['complete', '../../healthz'],
    ['complete', ''],
  ]) {
    const r = await runCli(args, { env });
    console.log(JSON.stringify(args).slice(0, 120), '=> code', r.code, '| out:', JSON.stringify(r.stdout.slice(0, 300)), '| err:', JSON.stringify(r.stderr.slice(0, 400)));
  }
});
