import { describe, expect, it } from 'vitest';
import { forIds } from '../../src/testing/index.js';
import { startOffload, testReceiver } from '../support/offload.js';
import { until } from '../support/until.js';

/** Sends JSON text as written, so the test controls every byte the producer sends. */
async function postText(base: string, path: string, text: string): Promise<number> {
  const res = await fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: text });
  await res.text();
  return res.status;
}

// Written with a trailing zero, an escape and inner spacing: each would change if data were parsed and serialized again.
const DATA = '{"a": 1.0, "b":"\\u00e9", "c":[ 2.50e1 ,"x\\"y"]}';

describe('message data arrives byte for byte as the producer sent it', () => {
  it('keeps the exact data text for single and batch sends on a queue and a topic', async () => {
    const receiver = await testReceiver();
    const offload = await startOffload({
      endpoints: { sink: { url: receiver.url } },
      queues: { q: { endpoint: 'sink', path: '/q' } },
      topics: { t: { subscriptions: { s: { endpoint: 'sink', path: '/t' } } } },
    });
    for (const kind of ['queues', 'topics'] as const) {
      const name = kind === 'queues' ? 'q' : 't';
      expect(await postText(offload.url, `/v1/${kind}/${name}/messages`, `{ "id":"one", "data" : ${DATA} }`)).toBe(202);
      const batch = `{"messages":[ {"id":"two","data":${DATA}}, {"data":"\\u00e9","id":"three","metadata":{"tenantId":"x"}} , {"id":"four","data":7.10,"data":${DATA}} ]}`;
      expect(await postText(offload.url, `/v1/${kind}/${name}/messages/batch`, batch)).toBe(202);
    }
    await receiver.waitFor((r) => r.acceptCounts('/q').size === 4 && r.acceptCounts('/t').size === 4, { timeoutMs: 10_000, description: 'all delivered' });
    for (const path of ['/q', '/t']) {
      const bodies = receiver.records().filter((r) => r.path === path).map((r) => r.body).join('\n');
      // "one", "two" and "four" (whose repeated data member keeps the last, as JSON.parse does) carry DATA verbatim.
      expect(bodies.split(`"data":${DATA}`).length - 1).toBeGreaterThanOrEqual(3);
      expect(bodies).toContain('"data":"\\u00e9"');
      // (The overridden first member must not leak; a timestamp such as 04:39:37.106Z may contain "7.10" by chance.)
      expect(bodies).not.toMatch(/"data":7\.10/);
    }
  });

  it('keeps it behind a byte order mark, and with __proto__ or constructor.prototype keys in it', async () => {
    const receiver = await testReceiver();
    const offload = await startOffload({ endpoints: { sink: { url: receiver.url } }, queues: { q: { endpoint: 'sink', path: '/q' } } });
    const keys = '{"__proto__":{"x":1.0},"user":{"constructor":{"prototype":"Person"}},"n":12345678901234567890}';
    expect(await postText(offload.url, '/v1/queues/q/messages', `\ufeff{"id":"bom","data":${DATA}}`)).toBe(202);
    expect(await postText(offload.url, '/v1/queues/q/messages/batch', `\ufeff{"messages":[{"id":"bom-batch","data":${DATA}}]}`)).toBe(202);
    expect(await postText(offload.url, '/v1/queues/q/messages', `{"id":"keys","data":${keys}}`)).toBe(202);
    expect(await postText(offload.url, '/v1/queues/q/messages/batch', `{"messages":[{"id":"keys-batch","data":${keys}}]}`)).toBe(202);
    await receiver.waitFor((r) => r.acceptCounts('/q').size === 4, { timeoutMs: 10_000, description: 'all delivered' });
    const bodyOf = (id: string) => receiver.records().find((r) => r.body.includes(`"id":"${id}"`))!.body;
    for (const id of ['bom', 'bom-batch']) expect(bodyOf(id)).toContain(`"data":${DATA}`);
    for (const id of ['keys', 'keys-batch']) expect(bodyOf(id)).toContain(`"data":${keys}`);
    // Outside data such a key would be dropped without a word: it is refused, naming where it is.
    for (const [path, body] of [
      ['/v1/queues/q/messages', '{"id":"h1","data":1,"metadata":{"headers":{"__proto__":"v"}}}'],
      ['/v1/queues/q/messages', '{"id":"h2","data":1,"metadata":{"__proto__":{"x-a":"1"}}}'],
      ['/v1/queues/q/messages/batch', '{"messages":[{"id":"h3","data":1,"metadata":{"headers":{"constructor":{"prototype":"x"}}}}]}'],
    ] as const) {
      const answer = await fetch(`${offload.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      expect(answer.status).toBe(400);
      expect(((await answer.json()) as { detail: string }).detail).toMatch(/^(messages\.0\.)?metadata\.(headers\.)?(__proto__|constructor): a key named __proto__ \(or constructor\.prototype\) is allowed only inside data$/);
    }
    expect((await fetch(`${offload.url}/v1/messages/h1`)).status).toBe(404);
  });

  it('shows it as it will be delivered in the message and dead-letter views', async () => {
    const receiver = await testReceiver({ decide: forIds(['dead'], { kind: 'status', status: 400 }) });
    const offload = await startOffload({ endpoints: { sink: { url: receiver.url } }, queues: { q: { endpoint: 'sink', path: '/q', maxAttempts: 1 } } });
    const data = '{"z":1.0,"a":12345678901234567890,"e":"\u00e9"}';
    expect(await postText(offload.url, '/v1/queues/q/messages', `{"id":"dead","data":${data}}`)).toBe(202);
    const text = async (path: string) => (await fetch(`${offload.url}${path}`)).text();
    let dead = '';
    await until('the message is dead-lettered', async () => (dead = await text('/v1/queues/q/deadletters')).includes('"dead"'));
    expect(dead).toContain(`"data":${data}`);
    expect(await text('/v1/messages/dead')).toContain(`"data":${data}`);
  });
});
