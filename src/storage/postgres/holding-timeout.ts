/*
 * Migration 28: a batch of keeping outcomes gives up on a lane another transaction holds.
 *
 * The retries, stalls and parks of one turn of the event loop settle in one call of
 * settle_holding, across targets, which first locks every lane of the batch. A lane held by an
 * application's open outbox transaction (it wrote to that fifo key or ordered subscription's key)
 * made the whole batch wait until that transaction ended: the settlements of other keys and other
 * targets with it. settle_holding_or_give_up is the same call with a lock timeout of one second;
 * when it gives up, the adapter settles the batch's deliveries one by one through settle_holding,
 * so only the held lane's own settlement waits (lane-holds.ts). Text here is frozen with the
 * migration.
 */
export const HOLDING_TIMEOUT_MIGRATION = `
CREATE FUNCTION settle_holding_or_give_up(
  p_ids BIGINT[], p_epochs INTEGER[], p_status TEXT[], p_available BIGINT[], p_reason TEXT[], p_result TEXT[],
  p_attempt INTEGER[], p_started BIGINT[], p_duration INTEGER[], p_code INTEGER[], p_error TEXT[], p_response TEXT[], p_now BIGINT,
  p_lane_states TEXT[], p_lane_ready BIGINT[], p_lane_reasons TEXT[])
RETURNS TABLE (id BIGINT, laned BOOLEAN, before TEXT)
LANGUAGE sql VOLATILE SET search_path FROM CURRENT SET lock_timeout = '1s' AS $fn$
  SELECT * FROM settle_holding(p_ids, p_epochs, p_status, p_available, p_reason, p_result, p_attempt, p_started, p_duration, p_code,
    p_error, p_response, p_now, p_lane_states, p_lane_ready, p_lane_reasons)
$fn$;
`;
