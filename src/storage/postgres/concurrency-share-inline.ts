import { CONCURRENCY_SLOTS_MIGRATION } from './concurrency-slots.js';
import { asReplacement, functionIn, replaced } from './derived-sql.js';

/*
 * Migration 30: how an endpoint's concurrency is shared is read inside the statements that need it.
 *
 * take_concurrency_slots and hold_concurrency_slots (migration 14) read it through
 * concurrency_share, a SQL function with its own search_path, which PostgreSQL cannot inline: it
 * went through the SQL-function executor, which parses and plans the body again in every
 * transaction. That was half of a take's time (a call of take_concurrency_slots, prepared, in its
 * own transaction: 156–164 µs, 79–82 with the query written in). Each now reads the live holds of
 * the other owners in its own statement, planned once per connection with the function, and
 * concurrency_share is gone. What they return is unchanged. Text here is frozen with the migration.
 */

const LABEL = 'migration 30';

const TAKE = replaced(functionIn(CONCURRENCY_SLOTS_MIGRATION, 'take_concurrency_slots', LABEL), [
  asReplacement('take_concurrency_slots'),
  [
    '  RETURN QUERY SELECT v_granted, c.total, c.waiting, c.owners FROM concurrency_share(p_key, p_owner, p_held + v_granted, p_count - v_granted, p_now) c;',
    `  -- Its own row counts as held (p_held + v_granted) and, while it holds or wants any, as an owner.
  RETURN QUERY SELECT v_granted, (COALESCE(SUM(s.held), 0) + p_held + v_granted)::int, COALESCE(SUM(s.wanted), 0)::int,
    (COUNT(*) + CASE WHEN p_held + p_count > 0 THEN 1 ELSE 0 END)::int
  FROM concurrency_slots s WHERE s.key = p_key AND s.owner <> p_owner AND s.expires_at > p_now;`,
  ],
], LABEL);

const HOLD = replaced(functionIn(CONCURRENCY_SLOTS_MIGRATION, 'hold_concurrency_slots', LABEL), [
  asReplacement('hold_concurrency_slots'),
  [
    '    CROSS JOIN LATERAL concurrency_share(h.key, p_owner, h.held, h.wanted, p_now) c',
    `    CROSS JOIN LATERAL (SELECT (COALESCE(SUM(s.held), 0) + h.held)::int AS total, COALESCE(SUM(s.wanted), 0)::int AS waiting,
        (COUNT(*) + CASE WHEN h.held + h.wanted > 0 THEN 1 ELSE 0 END)::int AS owners
      FROM concurrency_slots s WHERE s.key = h.key AND s.owner <> p_owner AND s.expires_at > p_now) c`,
  ],
], LABEL);

export const CONCURRENCY_SHARE_INLINE_MIGRATION = `
${TAKE}

${HOLD}

DROP FUNCTION concurrency_share(TEXT, TEXT, INTEGER, INTEGER, BIGINT);
`;
