import { HOLDING_FUNCTIONS_MIGRATION } from './holding-functions.js';
import { HOT_CLAIMS_MIGRATION } from './hot-claims.js';
import { LEASE_AFTER_WAIT_MIGRATION } from './lease-after-wait.js';
import { asReplacement, functionIn, replaced } from './derived-sql.js';

/*
 * Migration 27: a settlement repeated for an attempt already settled records nothing.
 *
 * A fenced settlement keeps its attempt in the history, marked fenced: the call happened, only
 * its outcome came after a later attempt had taken the delivery over. The same attempt settled
 * twice (two asynchronous completions of one token racing each other, on one instance or two) is
 * not another call, yet the loser was recorded as one. An attempt is now recorded when its
 * settlement applied, or when the delivery's epoch, as the statement sees it, has moved past the
 * attempt's. A takeover committed while the settlement runs is seen as the old epoch, so that
 * rare fenced call goes unrecorded rather than a repeat being recorded every time.
 *
 * The functions are their latest definitions (migrations 23, 25 and 26) with that condition
 * added and nothing else. Text here is frozen with the migration.
 */

const LABEL = 'migration 27';
const KEPT = 'd.id = v.id) ORDER BY v.ord';
const KEPT_IF_NEW = 'd.id = v.id AND (d.epoch <> v.epoch OR d.id = ANY(ARRAY(SELECT upd.id FROM upd)))) ORDER BY v.ord';

const derived = (migration: string, name: string, edits: ReadonlyArray<readonly [string, string]>) =>
  replaced(functionIn(migration, name, LABEL), edits, LABEL);

export const REPEATED_SETTLEMENTS_MIGRATION = [
  derived(HOLDING_FUNCTIONS_MIGRATION, 'settle_deliveries', [asReplacement('settle_deliveries'), [KEPT, KEPT_IF_NEW]]),
  derived(HOLDING_FUNCTIONS_MIGRATION, 'settle_holding', [asReplacement('settle_holding'), [KEPT, KEPT_IF_NEW]]),
  derived(LEASE_AFTER_WAIT_MIGRATION, 'settle_and_claim_many', [[KEPT, KEPT_IF_NEW]]),
  derived(HOT_CLAIMS_MIGRATION, 'settle_free_and_claim', [
    ['d.id = v.id AND d.lane IS NULL) ORDER BY v.ord',
      'd.id = v.id AND d.lane IS NULL AND (d.epoch <> v.epoch OR d.id = ANY(ARRAY(SELECT upd.id FROM upd)))) ORDER BY v.ord'],
  ]),
].join('\n\n');
