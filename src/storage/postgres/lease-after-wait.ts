import { HOT_CLAIMS_MIGRATION } from './hot-claims.js';
import { functionIn, replaced } from './derived-sql.js';

/*
 * Migration 26: a claim that had to wait for a lane's lock leases from when it got it.
 *
 * settle_and_claim and settle_and_claim_many lock the lanes they settle (waiting for whoever
 * holds them: an application's outbox transaction writing to the same key, for as long as it
 * stays open) and then claim the lanes' next heads under `p_lease_until`, which the caller
 * computed before the statement started. After a wait longer than the lease, that lease had
 * already run out when it was written: another claimer took the lane over at once and the key
 * had two calls in flight. The lease now counts from when the locks were granted: the caller's
 * lease plus the time the statement spent waiting (waits under 250 ms are left out, which keeps
 * leases exact where nothing waited).
 */

const LABEL = 'migration 26';
const AFTER_LOCK = '\n  p_lease_until := p_lease_until + lock_wait_ms();';

// After the fenced-or-gone branch, which hands the caller's lease to settle_and_claim_many: that
// one adds the wait itself (the same statement's wait), so it must not be added twice.
const SETTLE_AND_CLAIM = replaced(functionIn(HOT_CLAIMS_MIGRATION, 'settle_and_claim', LABEL), [
  ['\n  INSERT INTO attempts (delivery_id, attempt, started_at, duration_ms, status_code, error, response, fenced)\n  VALUES (p_ids[1],',
    `${AFTER_LOCK}\n  INSERT INTO attempts (delivery_id, attempt, started_at, duration_ms, status_code, error, response, fenced)\n  VALUES (p_ids[1],`],
], LABEL);

const SETTLE_AND_CLAIM_MANY = replaced(functionIn(HOT_CLAIMS_MIGRATION, 'settle_and_claim_many', LABEL), [
  ['l.lane = x.lane FOR UPDATE) l;', `l.lane = x.lane FOR UPDATE) l;${AFTER_LOCK}`],
], LABEL);

export const LEASE_AFTER_WAIT_MIGRATION = `
-- How long the current statement has waited so far, in ms, when that is 250 ms or more; else 0.
CREATE FUNCTION lock_wait_ms() RETURNS BIGINT LANGUAGE sql VOLATILE AS $fn$
  SELECT CASE WHEN w >= 250 THEN w ELSE 0 END
  FROM (SELECT floor(EXTRACT(EPOCH FROM clock_timestamp() - statement_timestamp()) * 1000)::bigint AS w) x
$fn$;

${SETTLE_AND_CLAIM}

${SETTLE_AND_CLAIM_MANY}
`;
