import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
// In an application: import { startTestOffload } from 'offload/testing';
import { startTestOffload, type TestOffload } from '../../src/testing/index.js';
import { startSignupApp, type SignupApp } from './signup-app.js';

/**
 * Testing an API whose handler offloads work: call the API, drain Offload, assert on what the
 * work endpoints did. No sleeps and no polling: drain answers once nothing is due or in flight.
 */
describe('POST /signups', () => {
  let app: SignupApp;
  let offload: TestOffload;

  beforeAll(async () => {
    app = await startSignupApp();
    offload = await startTestOffload({
      endpoints: { app: { url: app.url } },
      queues: { emails: { preset: 'ancillary', endpoint: 'app', path: '/work/emails', maxAttempts: 5 } },
      topics: { domain_events: { subscriptions: { crm: { preset: 'domain-events', endpoint: 'app', path: '/work/crm' } } } },
    });
    app.useOffload(offload.client);
  });
  afterAll(async () => {
    await offload.close();
    await app.close();
  });
  beforeEach(() => {
    app.sentEmails.length = 0;
    app.crmContacts.length = 0;
  });

  const signUp = (body: object) => fetch(`${app.url}/signups`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

  it('sends a welcome email and tells the CRM', async () => {
    const res = await signUp({ email: 'ada@example.com', name: 'Ada' });
    expect(res.status).toBe(201);
    const { userId } = (await res.json()) as { userId: string };

    const drained = await offload.drain();

    expect(drained.undelivered).toEqual([]);
    expect(app.sentEmails).toEqual([{ to: 'ada@example.com', subject: 'Welcome, Ada' }]);
    expect(app.crmContacts).toEqual([{ userId, email: 'ada@example.com' }]);
  });

  it('retries the email through a mail provider outage (skipBackoff: no waiting for the backoff)', async () => {
    app.failNextEmails(2);
    const { userId } = (await (await signUp({ email: 'grace@example.com', name: 'Grace' })).json()) as { userId: string };

    await offload.drain({ skipBackoff: true });

    expect(app.sentEmails).toEqual([{ to: 'grace@example.com', subject: 'Welcome, Grace' }]);
    const email = await offload.client.getMessage(`welcome-${userId}`);
    expect(email).toMatchObject({ status: 'delivered', deliveries: [{ target: 'emails', attempts: 3 }] });
  });

  it('leaves an undeliverable email dead-lettered, and says so', async () => {
    const { userId } = (await (await signUp({ email: 'nobody@example.invalid', name: 'Nobody' })).json()) as { userId: string };

    const drained = await offload.drain({ channels: ['emails'], skipBackoff: true });

    expect(app.sentEmails).toEqual([]);
    expect(drained.undelivered).toEqual([
      expect.objectContaining({ id: `welcome-${userId}`, channel: 'emails', reason: 'deadlettered', lastError: 'permanent failure: HTTP 400: no such mailbox: nobody@example.invalid' }),
    ]);
  });
});
