import { CLAIM_BY_PRIORITY_MIGRATION } from './claim-by-priority.js';
import { functionIn, replaced } from './derived-sql.js';
import { REPEATED_SETTLEMENTS_MIGRATION } from './repeated-settlements.js';

/*
 * Migration 35: an attempt is recorded without a foreign-key trigger.
 *
 * Every settlement inserts one `attempts` row per delivery, and the foreign key to `deliveries`
 * ran a trigger per row that looked the delivery up `FOR KEY SHARE`: about 6.5 µs of the
 * database's CPU per row on the benchmark machine (100,000 rows inserted: 1.07 s with the key,
 * 0.36 s without), most of the insert. For an attempt whose settlement applied, the check found
 * the row the same statement had just updated (and locked). So the key goes, and what it guarded
 * is kept by the statements:
 *
 * - A settled attempt is recorded because its delivery is among the rows the statement updated,
 *   with no second lookup.
 * - A fenced attempt (its delivery's epoch has moved on) is recorded when its delivery row can be
 *   locked FOR KEY SHARE, as the trigger did: a delivery that retention or a purge deletes at
 *   that moment is waited for and then not found, so the attempt is not recorded; a delivery
 *   locked first delays the delete until the settlement commits.
 * - The deletes of deliveries (the sweep, the dead-letter purges) delete their attempts in a
 *   later statement of the same transaction, whose snapshot includes the attempts of every
 *   settlement that held such a lock (retention.ts, postgres-admin.ts). The cascade did this
 *   before, and a fenced attempt racing a delete failed its whole settlement with a key violation.
 *
 * The four functions are their latest definitions (migrations 27 and 32) with that condition
 * changed and nothing else. Text here is frozen with the migration.
 */

const LABEL = 'migration 35';
const CHECKED = 'FROM v WHERE EXISTS (SELECT 1 FROM deliveries d WHERE d.id = v.id AND (d.epoch <> v.epoch OR d.id = ANY(ARRAY(SELECT upd.id FROM upd)))) ORDER BY v.ord';
const LOCKED = `FROM v WHERE v.id = ANY(ARRAY(SELECT upd.id FROM upd))
      OR EXISTS (SELECT 1 FROM deliveries d WHERE d.id = v.id AND d.epoch <> v.epoch FOR KEY SHARE) ORDER BY v.ord`;

const derived = (migration: string, name: string, edits: ReadonlyArray<readonly [string, string]>) =>
  replaced(functionIn(migration, name, LABEL), edits, LABEL);

export const ATTEMPTS_UNCHECKED_MIGRATION = [
  'ALTER TABLE attempts DROP CONSTRAINT IF EXISTS attempts_delivery_id_fkey;',
  derived(REPEATED_SETTLEMENTS_MIGRATION, 'settle_deliveries', [[CHECKED, LOCKED]]),
  derived(REPEATED_SETTLEMENTS_MIGRATION, 'settle_holding', [[CHECKED, LOCKED]]),
  derived(REPEATED_SETTLEMENTS_MIGRATION, 'settle_and_claim_many', [[CHECKED, LOCKED]]),
  derived(CLAIM_BY_PRIORITY_MIGRATION, 'settle_free_and_claim', [[
    'WHERE EXISTS (SELECT 1 FROM deliveries d WHERE d.id = v.id AND d.lane IS NULL AND (d.epoch <> v.epoch OR d.id = ANY(ARRAY(SELECT upd.id FROM upd)))) ORDER BY v.ord',
    `WHERE v.id = ANY(ARRAY(SELECT upd.id FROM upd))
        OR EXISTS (SELECT 1 FROM deliveries d WHERE d.id = v.id AND d.lane IS NULL AND d.epoch <> v.epoch FOR KEY SHARE) ORDER BY v.ord`,
  ]]),
].join('\n\n');
