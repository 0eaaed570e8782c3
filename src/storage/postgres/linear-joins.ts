/*
 * Migration 22: settlements and lane claims meet each of their rows once. Their statements joined
 * a batch's outcomes (or a claim's verdicts) to the rows they change with the key twice, as
 * `d.id = ANY(p_ids) AND d.id = v.id`: the first to reach the rows by key under any plan. Planned
 * for a few rows, PostgreSQL then read the rows through the ANY and, for each, scanned the whole
 * batch for its outcome: a batch of n compared n × n pairs, twice (the update and the attempts).
 * At 100 outcomes the settlement statement took 4.6 ms, of which most was those 20,000 pairs;
 * the claim's lane updates did the same with its verdicts, and its lease of the heads matched
 * every head against the array of all of them once per head. Alike, a message looked up for one
 * row per lane (the creation time of a batch's head, the id of the last delivered) was looked up
 * for every row of the batch, and all but one thrown away, and so was the lane's cursor.
 *
 * The rows are now reached from the batch: each outcome (or verdict) looks its row up by key,
 * once. Whether a settled delivery was fenced is read from the array of ids the update settled,
 * and an attempt is recorded only for a delivery that exists, looked up by its id. The functions
 * are the ones migrations 15 and 17 created (13 for claim_lanes) with only these statements
 * changed; their settings from migrations 19 and 20 are restated, since a function replaced takes
 * the settings its new definition names. Text here is derived from those frozen migrations by the
 * replacements below, each of which must apply.
 */
import { asReplacement, functionIn as derivedFunction, replaced as derivedEdits } from './derived-sql.js';
import { FREE_FUNCTIONS_MIGRATION } from './free-functions.js';
import { LANE_FUNCTIONS_MIGRATION } from './lane-functions.js';
import { LANE_HEAD_FLOOR_MIGRATION } from './lane-functions-head-floor.js';

const LABEL = 'migration 22';
const functionIn = (migration: string, name: string) => derivedFunction(migration, name, LABEL);
const replaced = (sql: string, edits: ReadonlyArray<readonly [string, string]>) => derivedEdits(sql, edits, LABEL);

/**
 * The lane and head updates of a claim: each verdict reaches its lane, each head its row, by key;
 * and a lane's head message and its cursor are looked up once, not once per row of its batch.
 */
const LANE_VERDICT_EDITS = [
  ["FROM verdict v WHERE l.target_id = p_target AND l.lane = ANY(v_lanes) AND l.lane = v.lane AND v.verdict IN ('wait', 'fill')",
    "FROM verdict v WHERE l.target_id = p_target AND l.lane = v.lane AND v.verdict IN ('wait', 'fill')"],
  ["DELETE FROM lanes l USING verdict v WHERE l.target_id = p_target AND l.lane = ANY(v_lanes) AND l.lane = v.lane AND v.verdict = 'empty'",
    "DELETE FROM lanes l USING verdict v WHERE l.target_id = p_target AND l.lane = v.lane AND v.verdict = 'empty'"],
  ["FROM verdict v WHERE l.target_id = p_target AND l.lane = ANY(v_lanes) AND l.lane = v.lane AND v.verdict = 'lease'",
    "FROM verdict v WHERE l.target_id = p_target AND l.lane = v.lane AND v.verdict = 'lease'"],
  ['WHERE d.id = ANY(ARRAY(SELECT h.id FROM h)) AND d.id = h.id', 'WHERE d.id = h.id'],
  [`    SELECT DISTINCT ON (h.lane) h.lane, h.available_at, h.attempts, (SELECT m.created_at FROM messages m WHERE m.pk = h.message_pk) AS created_at,
      count(*) OVER (PARTITION BY h.lane) AS n
    FROM h ORDER BY h.lane, h.position`,
  `    SELECT f.lane, f.available_at, f.attempts, (SELECT m.created_at FROM messages m WHERE m.pk = f.message_pk) AS created_at, f.n
    FROM (SELECT DISTINCT ON (h.lane) h.lane, h.available_at, h.attempts, h.message_pk, count(*) OVER (PARTITION BY h.lane) AS n
      FROM h ORDER BY h.lane, h.position) f`],
  [`      CASE WHEN f.available_at > p_now THEN f.available_at ELSE f.created_at + p_max_wait END AS until
    FROM unnest(v_lanes) AS v(lane) LEFT JOIN heads f ON f.lane = v.lane`,
  `      CASE WHEN f.available_at > p_now THEN f.available_at ELSE f.created_at + p_max_wait END AS until,
      cur.delivered AS cur_delivered, cur.last_id AS cur_last_id
    FROM unnest(v_lanes) AS v(lane) LEFT JOIN heads f ON f.lane = v.lane
    LEFT JOIN LATERAL (SELECT lc.delivered, lc.last_id FROM lane_cursors lc WHERE lc.target_id = p_target AND lc.lane = v.lane OFFSET 0) cur ON true`],
  ['RETURNING d.id, d.epoch, d.attempts, d.message_pk, h.lane, h.ord, h.position, h.status AS was',
    'RETURNING d.id, d.epoch, d.attempts, d.message_pk, h.lane, h.ord, h.position, h.status AS was, v.cur_delivered, v.cur_last_id'],
  [`    m.priority, m.expires_at, lc.delivered, lc.last_id
  FROM upd u
  CROSS JOIN LATERAL (SELECT * FROM messages m WHERE m.pk = u.message_pk OFFSET 0) m
  LEFT JOIN LATERAL (SELECT * FROM lane_cursors lc WHERE lc.target_id = p_target AND lc.lane = u.lane OFFSET 0) lc ON true
`,
  `    m.priority, m.expires_at, u.cur_delivered, u.cur_last_id
  FROM upd u
  CROSS JOIN LATERAL (SELECT * FROM messages m WHERE m.pk = u.message_pk OFFSET 0) m
`],
] as const;

const CLAIM_SETTINGS = [
  'SET enable_seqscan = off AS $fn$',
  'SET enable_seqscan = off SET enable_bitmapscan = off SET jit = off AS $fn$',
] as const;

const CLAIM_LANES = replaced(functionIn(LANE_FUNCTIONS_MIGRATION, 'claim_lanes'), [asReplacement('claim_lanes'), CLAIM_SETTINGS, ...LANE_VERDICT_EDITS]);

const CLAIM_LANES_FROM = replaced(functionIn(LANE_HEAD_FLOOR_MIGRATION, 'claim_lanes_from'), [
  asReplacement('claim_lanes_from'), CLAIM_SETTINGS, ...LANE_VERDICT_EDITS,
]);

const SETTLE_AND_CLAIM_MANY = replaced(functionIn(LANE_HEAD_FLOOR_MIGRATION, 'settle_and_claim'), [
  ['CREATE OR REPLACE FUNCTION settle_and_claim(', 'CREATE OR REPLACE FUNCTION settle_and_claim_many('],
  ['SET enable_seqscan = off AS $fn$', 'SET enable_seqscan = off SET jit = off AS $fn$'],
  ["FROM v WHERE d.id = ANY(p_ids) AND d.id = v.id AND d.epoch = v.epoch AND d.status = 'delivering'\n",
    "FROM v WHERE d.id = v.id AND d.epoch = v.epoch AND d.status = 'delivering'\n"],
  ['v.response, upd.id IS NULL\n    FROM v LEFT JOIN upd ON upd.id = v.id WHERE v.id IN (SELECT d.id FROM deliveries d WHERE d.id = ANY(p_ids)) ORDER BY v.ord',
    'v.response, v.id <> ALL(ARRAY(SELECT upd.id FROM upd))\n    FROM v WHERE EXISTS (SELECT 1 FROM deliveries d WHERE d.id = v.id) ORDER BY v.ord'],
  [`    SELECT upd.target_id, upd.lane, count(*), (array_agg((SELECT m.id FROM messages m WHERE m.pk = upd.message_pk) ORDER BY upd.position DESC))[1]
    FROM upd
    WHERE upd.lane IS NOT NULL AND upd.status = 'delivered'
    GROUP BY upd.target_id, upd.lane`,
  `    SELECT g.target_id, g.lane, g.n, (SELECT m.id FROM messages m WHERE m.pk = g.last_pk)
    FROM (SELECT upd.target_id, upd.lane, count(*) AS n, (array_agg(upd.message_pk ORDER BY upd.position DESC))[1] AS last_pk
      FROM upd
      WHERE upd.lane IS NOT NULL AND upd.status = 'delivered'
      GROUP BY upd.target_id, upd.lane) g`],
]);

const SETTLE_FREE_AND_CLAIM = replaced(functionIn(FREE_FUNCTIONS_MIGRATION, 'settle_free_and_claim'), [
  asReplacement('settle_free_and_claim'),
  ['SET enable_seqscan = off AS $fn$', 'SET enable_seqscan = off SET enable_sort = off SET jit = off AS $fn$'],
  ["FROM v WHERE d.id = ANY(p_ids) AND d.id = v.id AND d.epoch = v.epoch AND d.status = 'delivering' AND d.lane IS NULL",
    "FROM v WHERE d.id = v.id AND d.epoch = v.epoch AND d.status = 'delivering' AND d.lane IS NULL"],
  ['v.response, upd.id IS NULL\n      FROM v LEFT JOIN upd ON upd.id = v.id\n      WHERE v.id IN (SELECT d.id FROM deliveries d WHERE d.id = ANY(p_ids) AND d.lane IS NULL) ORDER BY v.ord',
    'v.response, v.id <> ALL(ARRAY(SELECT upd.id FROM upd))\n      FROM v\n      WHERE EXISTS (SELECT 1 FROM deliveries d WHERE d.id = v.id AND d.lane IS NULL) ORDER BY v.ord'],
]);

export const LINEAR_JOINS_MIGRATION = [CLAIM_LANES, CLAIM_LANES_FROM, SETTLE_AND_CLAIM_MANY, SETTLE_FREE_AND_CLAIM].join('\n\n');
