/*
 * Migration 25: the claim of a laned delivery is a HOT update. PostgreSQL rewrites a row in place
 * on its page, with no new index entry, only when the update changes no column that an index
 * names, in its key or in its predicate. Every partial index of `deliveries` named `available_at`
 * (live rows are those where it is set) and one named `status`, so each claim (`ready` to
 * `delivering`, `available_at` from the due time to the lease expiry) added an entry to every
 * index the row belonged to: four for a laned delivery, on top of the three of its settlement and
 * the four of its insert. A fifo message paid for eleven index entries, and each lane's head
 * lookup walked the dead ones until VACUUM.
 *
 * The indexes now name three stored generated columns, which a claim of a laned delivery leaves
 * as they were:
 *   - `live`: the row is ready or in flight (`available_at IS NOT NULL`);
 *   - `free_at`: `available_at` of a delivery without a lane (null for every laned one), which
 *     orders unordered claims;
 *   - `final_status`: the status of a settled row (null while live), which lists dead letters.
 * A claim of a laned delivery, its renewals and its release change only `status`, `available_at`
 * and columns no index names: HOT whenever the row's page has room, which the table's fillfactor
 * (50) leaves for it. An unordered claim still moves `free_at` (its lease expiry is what a
 * takeover looks for), as before.
 *
 * Every statement that reached these indexes names the new columns, since PostgreSQL matches a
 * partial index by proving its predicate from the query's conditions: the functions below are
 * their latest definitions (migrations 21 and 22) with those conditions changed and nothing else.
 * Adding the columns rewrites the table once. Text here is frozen with the migration.
 */
import { asReplacement, functionIn, replaced } from './derived-sql.js';
import { SINGLE_SETTLE_MIGRATION } from './lane-functions-single.js';
import { LINEAR_JOINS_MIGRATION } from './linear-joins.js';

const LABEL = 'migration 25';

const derived = (migration: string, name: string, edits: ReadonlyArray<readonly [string, string]>) =>
  replaced(functionIn(migration, name, LABEL), edits, LABEL);

const CLAIM_LANES = derived(LINEAR_JOINS_MIGRATION, 'claim_lanes', [
  ['WHERE d.target_id = p_target AND d.lane = v.lane AND d.available_at IS NOT NULL ORDER BY d.position LIMIT p_batch',
    'WHERE d.target_id = p_target AND d.lane = v.lane AND d.live ORDER BY d.position LIMIT p_batch'],
]);

const CLAIM_LANES_FROM = derived(LINEAR_JOINS_MIGRATION, 'claim_lanes_from', [
  ['WHERE d.target_id = p_target AND d.lane = v.lane AND d.available_at IS NOT NULL\n', 'WHERE d.target_id = p_target AND d.lane = v.lane AND d.live\n'],
]);

const SETTLE_AND_CLAIM_MANY = derived(LINEAR_JOINS_MIGRATION, 'settle_and_claim_many', [
  ['WHERE d.target_id = mv.target_id AND d.lane = mv.lane AND d.available_at IS NOT NULL ORDER BY d.position LIMIT 1',
    'WHERE d.target_id = mv.target_id AND d.lane = mv.lane AND d.live ORDER BY d.position LIMIT 1'],
]);

const SETTLE_AND_CLAIM = derived(SINGLE_SETTLE_MIGRATION, 'settle_and_claim', [
  asReplacement('settle_and_claim'),
  ['WHERE d.target_id = v_target AND d.lane = v_lane AND d.available_at IS NOT NULL ORDER BY d.position LIMIT 1;',
    'WHERE d.target_id = v_target AND d.lane = v_lane AND d.live ORDER BY d.position LIMIT 1;'],
]);

const SETTLE_FREE_AND_CLAIM = derived(LINEAR_JOINS_MIGRATION, 'settle_free_and_claim', [
  [`        AND d.lane IS NULL AND d.available_at IS NOT NULL AND d.available_at <= p_now AND (d.expires_at IS NULL OR d.expires_at > p_now)
      ORDER BY d.priority DESC, d.available_at, d.id LIMIT p_limit`,
  `        AND d.free_at <= p_now AND (d.expires_at IS NULL OR d.expires_at > p_now)
      ORDER BY d.priority DESC, d.free_at, d.id LIMIT p_limit`],
  [`next_at := (SELECT MIN(d.available_at) FROM deliveries d
        WHERE d.target_id = p_target AND d.lane IS NULL AND d.available_at IS NOT NULL AND (d.expires_at IS NULL OR d.expires_at > p_now));`,
  `next_at := (SELECT MIN(d.free_at) FROM deliveries d
        WHERE d.target_id = p_target AND d.free_at IS NOT NULL AND (d.expires_at IS NULL OR d.expires_at > p_now));`],
]);

export const HOT_CLAIMS_MIGRATION = `
ALTER TABLE deliveries
  ADD COLUMN live BOOLEAN GENERATED ALWAYS AS (available_at IS NOT NULL) STORED,
  ADD COLUMN free_at BIGINT GENERATED ALWAYS AS (CASE WHEN lane IS NULL THEN available_at END) STORED,
  ADD COLUMN final_status TEXT GENERATED ALWAYS AS (CASE WHEN available_at IS NULL THEN status END) STORED;
-- Room on each page for the new version of a row claimed or renewed in place.
ALTER TABLE deliveries SET (fillfactor = 50);

DROP INDEX deliveries_ready, deliveries_lane, deliveries_final, deliveries_live, deliveries_by_priority, deliveries_expiring;
CREATE INDEX deliveries_ready ON deliveries (target_id, free_at) WHERE free_at IS NOT NULL;
CREATE INDEX deliveries_by_priority ON deliveries (target_id, priority DESC, free_at, id) WHERE free_at IS NOT NULL;
CREATE INDEX deliveries_lane ON deliveries (target_id, lane, position) WHERE lane IS NOT NULL AND live;
CREATE INDEX deliveries_live ON deliveries (target_id, position) WHERE live;
CREATE INDEX deliveries_final ON deliveries (target_id, final_status, id) WHERE final_status IS NOT NULL;
CREATE INDEX deliveries_expiring ON deliveries (expires_at) WHERE expires_at IS NOT NULL AND live;

${[CLAIM_LANES, CLAIM_LANES_FROM, SETTLE_AND_CLAIM_MANY, SETTLE_AND_CLAIM, SETTLE_FREE_AND_CLAIM].join('\n\n')}
`;
