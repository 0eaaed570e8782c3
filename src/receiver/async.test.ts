import { describe, expect, it } from 'vitest';
import { signatureHeaders } from '../delivery/signing.js';
import { appliedThrough, createReceiver, sqliteInbox, type ReceiverOptions } from './index.js';
import Database from 'better-sqlite3';

const SECRET = 'receiver-async-test-secret';
const NOW = Date.parse('2026-01-01T00:00:00Z');
const BATCH = 'application/cloudevents-batch+json';

const event = (id: string) => ({ specversion: '1.0', id, source: '/offload/jobs', type: 'job', datacontenttype: 'application/json', data: {} });

function request(body: string, headers: Record<string, string> = {}, contentType = 'application/cloudevents+json'): Request {
  return new Request('http://receiver.test/', { method: 'POST', headers: { 'content-type': contentType, ...signatureHeaders([SECRET], 'id', body, NOW), ...headers }, body });
}

function receiver(handlers: ReceiverOptions['handlers'], extra: Partial<ReceiverOptions> = {}) {
  return createReceiver({ secrets: SECRET, handlers, now: () => NOW, onError: () => {}, ...extra });
}

async function answer(response: Response): Promise<{ status: number; body: unknown }> {
  return { status: response.status, body: JSON.parse(await response.text()) };
}

describe('defer(): asynchronous acknowledgement', () => {
  it('answers 202 and hands the handler the completion token', async () => {
    const tokens: string[] = [];
    const r = receiver({ job: (_e, ctx) => void tokens.push(ctx.defer()) });
    const res = await answer(await r.fetch(request(JSON.stringify(event('m1')), { 'offload-completion-token': '7.3.abc' })));
    expect(res).toEqual({ status: 202, body: { ok: true, deferred: true } });
    expect(tokens).toEqual(['7.3.abc']);
  });

  it('a failure after defer() wins: the answer is the failure, not 202', async () => {
    const r = receiver({
      job: (_e, ctx) => {
        ctx.defer();
        throw new Error('could not hand the work over');
      },
    });
    expect((await r.fetch(request(JSON.stringify(event('m1')), { 'offload-completion-token': 't' }))).status).toBe(500);
  });

  it('refuses to defer without a token, in a batch, or with an inbox (500, the reason to onError)', async () => {
    const errors: string[] = [];
    const onError = (error: unknown) => void errors.push((error as Error).message);
    const deferring = { job: (_e: unknown, ctx: { defer(): string }) => void ctx.defer() };
    expect((await receiver(deferring, { onError }).fetch(request(JSON.stringify(event('m1'))))).status).toBe(500);
    const batch = JSON.stringify([event('a'), event('b')]);
    expect((await receiver(deferring, { onError }).fetch(request(batch, { 'offload-completion-token': 't' }, BATCH))).status).toBe(500);
    const db = new Database(':memory:');
    expect((await receiver(deferring, { onError, inbox: sqliteInbox(db) as never }).fetch(request(JSON.stringify(event('m1')), { 'offload-completion-token': 't' }))).status).toBe(500);
    db.close();
    expect(errors).toEqual([
      expect.stringMatching(/no Offload-Completion-Token: set asyncTimeout/),
      expect.stringMatching(/for single events/),
      expect.stringMatching(/cannot be used with an inbox/),
    ]);
  });
});

describe('appliedThrough(id): a batch stops early with a 2xx', () => {
  it('through the current event: it and the ones before are applied, the rest not run', async () => {
    const ran: string[] = [];
    const r = receiver({ job: (e) => (ran.push(e.id), e.id === 'b' ? appliedThrough('b') : undefined) });
    const res = await answer(await r.fetch(request(JSON.stringify([event('a'), event('b'), event('c')]), {}, BATCH)));
    expect(res).toEqual({ status: 200, body: { ok: true, appliedThrough: 'b', applied: 2, duplicates: 0 } });
    expect(ran).toEqual(['a', 'b']);
  });

  it('through an earlier event: the current one is rolled back with its inbox transaction and sent again', async () => {
    const db = new Database(':memory:');
    db.exec('CREATE TABLE effects (id TEXT)');
    let stop = true;
    const r = receiver(
      {
        job: (e, ctx) => {
          (ctx.tx as unknown as Database.Database).prepare('INSERT INTO effects (id) VALUES (?)').run(e.id);
          if (e.id === 'b' && stop) return appliedThrough('a');
          return undefined;
        },
      },
      { inbox: sqliteInbox(db) as never },
    );
    const batch = JSON.stringify([event('a'), event('b'), event('c')]);
    expect(await answer(await r.fetch(request(batch, {}, BATCH)))).toEqual({ status: 200, body: { ok: true, appliedThrough: 'a', applied: 1, duplicates: 0 } });
    expect(db.prepare('SELECT id FROM effects').all()).toEqual([{ id: 'a' }]);
    stop = false;
    const rest = JSON.stringify([event('b'), event('c')]);
    expect(await answer(await r.fetch(request(rest, {}, BATCH)))).toMatchObject({ status: 200, body: { ok: true, applied: 2 } });
    expect(db.prepare('SELECT id FROM effects ORDER BY id').all()).toEqual([{ id: 'a' }, { id: 'b' }, { id: 'c' }]);
    db.close();
  });

  it('an id that names no applied event of the batch is a handler error (500)', async () => {
    const r = receiver({ job: () => appliedThrough('zzz') });
    expect((await r.fetch(request(JSON.stringify([event('a'), event('b')]), {}, BATCH))).status).toBe(500);
  });
});
