import type Database from 'better-sqlite3';
import type pg from 'pg';
import { describe, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import { createReceiver, postgresInbox, sqliteInbox, withSchema, type HandlerEntry, type PgClientLike } from './index.js';

/*
 * What these check is the types: `npm run typecheck` compiles this file, and a handler whose
 * `tx` has the wrong type fails it. The functions are built, never called.
 */

describe('the types a handler sees', () => {
  it('gives plain handlers the inbox transaction type, beside withSchema handlers (the README example)', () => {
    const build = (pool: pg.Pool) =>
      createReceiver({
        secrets: ['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'],
        inbox: postgresInbox(pool, { table: 'offload_inbox' }),
        handlers: {
          'email.welcome': withSchema(z.object({ to: z.string().email() }), async (event, { tx }) => {
            expectTypeOf(event.data).toEqualTypeOf<{ to: string }>();
            await tx.query('INSERT INTO sent_emails (id) VALUES ($1)', [event.id]);
          }),
          'user.deleted': async (_event, { tx }) => {
            expectTypeOf(tx).toEqualTypeOf<PgClientLike>();
            await tx.query('DELETE FROM sessions');
          },
          '*': () => {},
        },
      });
    expectTypeOf(build).toBeFunction();
  });

  it('types a withSchema handler exactly where the inbox type is given', () => {
    const typed: HandlerEntry<PgClientLike> = withSchema(z.object({ id: z.string() }), async (event, { tx }) => {
      expectTypeOf(tx).toEqualTypeOf<PgClientLike>();
      // @ts-expect-error a pg client has no prepare()
      tx.prepare('SELECT 1');
      await tx.query('SELECT $1', [event.data.id]);
    });
    const explicit = withSchema<z.ZodObject<{ n: z.ZodNumber }>, Database.Database>(z.object({ n: z.number() }), (event, { tx }) => {
      expectTypeOf(tx).toEqualTypeOf<Database.Database>();
      tx.prepare('INSERT INTO t VALUES (?)').run(event.data.n);
    });
    const build = (pool: pg.Pool, db: Database.Database) => [
      createReceiver({ secrets: 's', inbox: postgresInbox(pool), handlers: { a: typed } }),
      createReceiver({ secrets: 's', inbox: sqliteInbox(db), handlers: { b: explicit } }),
    ];
    expectTypeOf(build).toBeFunction();
  });

  it('gives handlers no transaction without an inbox', () => {
    const build = () =>
      createReceiver({
        secrets: 's',
        handlers: {
          a: (_event, { tx }) => {
            expectTypeOf(tx).toEqualTypeOf<undefined>();
          },
        },
      });
    expectTypeOf(build).toBeFunction();
  });

  it('refuses a handler written for another inbox', () => {
    const forSqlite: HandlerEntry<Database.Database> = (_event, { tx }) => {
      tx.exec('SELECT 1');
    };
    const build = (pool: pg.Pool) =>
      // @ts-expect-error a handler for a SQLite transaction on a PostgreSQL inbox
      createReceiver({ secrets: 's', inbox: postgresInbox(pool), handlers: { a: forSqlite } });
    expectTypeOf(build).toBeFunction();
  });
});
