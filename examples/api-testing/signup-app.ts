import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { OffloadClient } from '../../src/client/index.js';

/**
 * The application under test: an API host whose signup handler offloads its side work instead of
 * doing it on the request path. It hands Offload a welcome email (queue `emails`) and a
 * `UserSignedUp` domain event (topic `domain_events`), and answers at once. Offload calls the
 * same app back to do that work: `POST /work/emails` sends the email through the mail provider,
 * `POST /work/crm` adds the contact to the CRM. Both are ordinary HTTP handlers.
 */
export interface SignupApp {
  url: string;
  /** Offload's client; the app and Offload each need the other's URL, so it is given after both start. */
  useOffload(client: OffloadClient): void;
  /** What the (fake) mail provider sent. */
  sentEmails: Array<{ to: string; subject: string }>;
  /** What the (fake) CRM holds. */
  crmContacts: Array<{ userId: string; email: string }>;
  /** The mail provider answers 503 to the next `count` sends. */
  failNextEmails(count: number): void;
  close(): Promise<void>;
}

interface CloudEvent<T> {
  id: string;
  type: string;
  data: T;
}

export async function startSignupApp(): Promise<SignupApp> {
  let offload: OffloadClient | undefined;
  let failing = 0;
  const sentEmails: SignupApp['sentEmails'] = [];
  const crmContacts: SignupApp['crmContacts'] = [];
  const sentIds = new Set<string>();

  const routes: Record<string, (body: unknown, res: ServerResponse) => Promise<void>> = {
    // The API route: validate, store the user (omitted), offload the rest, answer.
    '/signups': async (body, res) => {
      const { email, name } = body as { email?: string; name?: string };
      if (!email || !name) return json(res, 400, { error: 'email and name are required' });
      const userId = randomUUID();
      await offload!.send('emails', { id: `welcome-${userId}`, type: 'email.welcome', data: { to: email, name } });
      await offload!.publish('domain_events', { id: `signed-up-${userId}`, key: userId, type: 'UserSignedUp', data: { userId, email } });
      json(res, 201, { userId });
    },
    // Work endpoints Offload delivers to. They deduplicate on the event id (at-least-once delivery).
    '/work/emails': async (body, res) => {
      const event = body as CloudEvent<{ to: string; name: string }>;
      if (event.data.to.endsWith('.invalid')) return json(res, 400, { error: `no such mailbox: ${event.data.to}` });
      if (failing > 0) {
        failing--;
        return json(res, 503, { error: 'mail provider unavailable' });
      }
      if (!sentIds.has(event.id)) sentEmails.push({ to: event.data.to, subject: `Welcome, ${event.data.name}` });
      sentIds.add(event.id);
      json(res, 200, { sent: true });
    },
    '/work/crm': async (body, res) => {
      const event = body as CloudEvent<{ userId: string; email: string }>;
      if (event.type === 'UserSignedUp' && !crmContacts.some((c) => c.userId === event.data.userId)) crmContacts.push(event.data);
      json(res, 200, { ok: true });
    },
  };

  const server = createServer((req, res) => {
    const route = req.method === 'POST' ? routes[req.url ?? ''] : undefined;
    if (!route) return json(res, 404, { error: 'not found' });
    readJson(req).then(
      (body) => route(body, res),
      () => json(res, 400, { error: 'send JSON' }),
    ).catch((error: unknown) => json(res, 500, { error: String(error) }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    useOffload: (client) => {
      offload = client;
    },
    sentEmails,
    crmContacts,
    failNextEmails: (count) => {
      failing = count;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function readJson(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    let text = '';
    req.on('data', (chunk: Buffer) => (text += chunk.toString()));
    req.on('end', () => {
      try {
        resolve(JSON.parse(text));
      } catch (error) {
        reject(error instanceof Error ? error : new Error(String(error)));
      }
    });
    req.on('error', reject);
  });
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}
