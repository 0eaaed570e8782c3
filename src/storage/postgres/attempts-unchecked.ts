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
 * is kept another way:
 *
 * - A settled attempt is recorded because its delivery is among the rows the statement updated,
 *   with no second lookup.
 * - A fenced attempt (its delivery's epoch has moved on) is recorded when its delivery row can be
 *   locked FOR KEY SHARE, as the key's trigger did: a delivery deleted at that moment is waited
 *   for and then not found, so the attempt is left out (with the key, the whole settlement failed
 *   with a key violation, and its batch with it).
 * - The cascade becomes one trigger per statement that deletes deliveries, whoever runs it (the
 *   sweep, the dead-letter purges, an instance of an earlier release during an upgrade, an
 *   operator's own SQL): after the delete, it deletes the attempts of the deleted rows. It runs
 *   once the delete holds every row, so its own snapshot (a new one, as for every statement of a
 *   volatile function) includes the attempt of any settlement that had locked one of them first.
 *
 * The four settlement functions are their latest definitions (migrations 27 and 32) with that
 * condition changed and nothing else. Text here is frozen with the migration.
 */

const LABEL = 'migration 35';
const CHECKED = 'FROM v WHERE EXISTS (SELECT 1 FROM deliveries d WHERE d.id = v.id AND (d.epoch <> v.epoch OR d.id = ANY(ARRAY(SELECT upd.id FROM upd)))) ORDER BY v.ord';
const LOCKED = `FROM v WHERE v.id = ANY(ARRAY(SELECT upd.id FROM upd))
      OR EXISTS (SELECT 1 FROM deliveries d WHERE d.id = v.id AND d.epoch <> v.epoch FOR KEY SHARE) ORDER BY v.ord`;

const derived = (migration: string, name: string, edits: ReadonlyArray<readonly [string, string]>) =>
  replaced(functionIn(migration, name, LABEL), edits, LABEL);

const CASCADE = `
ALTER TABLE attempts DROP CONSTRAINT IF EXISTS attempts_delivery_id_fkey;

-- The attempts of the deliveries a statement deleted, found by key (= ANY): a join with the
-- transition table, which has no statistics, could be planned as a scan of every attempt.
CREATE FUNCTION delete_attempts_of_deleted_deliveries() RETURNS trigger
LANGUAGE plpgsql VOLATILE SET search_path FROM CURRENT AS $fn$
BEGIN
  DELETE FROM attempts a WHERE a.delivery_id = ANY (ARRAY(SELECT g.id FROM deleted_deliveries g));
  RETURN NULL;
END
$fn$;

CREATE TRIGGER deliveries_delete_attempts AFTER DELETE ON deliveries
  REFERENCING OLD TABLE AS deleted_deliveries FOR EACH STATEMENT EXECUTE FUNCTION delete_attempts_of_deleted_deliveries();`;

export const ATTEMPTS_UNCHECKED_MIGRATION = [
  CASCADE,
  derived(REPEATED_SETTLEMENTS_MIGRATION, 'settle_deliveries', [[CHECKED, LOCKED]]),
  derived(REPEATED_SETTLEMENTS_MIGRATION, 'settle_holding', [[CHECKED, LOCKED]]),
  derived(REPEATED_SETTLEMENTS_MIGRATION, 'settle_and_claim_many', [[CHECKED, LOCKED]]),
  derived(CLAIM_BY_PRIORITY_MIGRATION, 'settle_free_and_claim', [[
    'WHERE EXISTS (SELECT 1 FROM deliveries d WHERE d.id = v.id AND d.lane IS NULL AND (d.epoch <> v.epoch OR d.id = ANY(ARRAY(SELECT upd.id FROM upd)))) ORDER BY v.ord',
    `WHERE v.id = ANY(ARRAY(SELECT upd.id FROM upd))
        OR EXISTS (SELECT 1 FROM deliveries d WHERE d.id = v.id AND d.lane IS NULL AND d.epoch <> v.epoch FOR KEY SHARE) ORDER BY v.ord`,
  ]]),
].join('\n\n');
