/*
 * Migration 36: a send that claims for its own instance (Store.handOffSends). An instance whose
 * dispatcher has free slots on a queue would claim a message the moment its send commits, one
 * more round trip per message at a trickle; here the send's own transaction claims it, as that
 * claim would (settle_free_and_claim with no outcomes: due order, priority, pause, expiry, SKIP
 * LOCKED), with its look-ahead when the claim comes up short. The claim turns synchronous_commit
 * off for its transaction; the send is acknowledged only once durable, so it is set back before
 * the commit. Text here is frozen with the migration; a later change is a new one.
 */
export const SEND_HAND_OFF_MIGRATION = `
-- The rows of enqueue_messages (id, available_at, woke; the rest null), then those of a claim
-- of p_limit from the queue as settle_free_and_claim answers it (delivery_id not null), and when
-- that comes up short a last row with looked_ahead true and next_at.
CREATE FUNCTION enqueue_and_claim(p_channel BIGINT, p_ids TEXT[], p_keys TEXT[], p_types TEXT[], p_data TEXT[], p_metadata TEXT[],
  p_deliver_at BIGINT[], p_now BIGINT, p_laned BOOLEAN, p_wake TEXT, p_channel_name TEXT, p_priorities SMALLINT[], p_expires_at BIGINT[],
  p_limit INTEGER, p_owner TEXT, p_lease_until BIGINT)
RETURNS TABLE (sent_id TEXT, sent_available_at BIGINT, delivery_id BIGINT, epoch INTEGER, attempts INTEGER, pk BIGINT, id TEXT, key TEXT,
  type TEXT, data TEXT, metadata TEXT, created_at BIGINT, deliver_at BIGINT, sequence BIGINT, priority SMALLINT, expires_at BIGINT,
  looked_ahead BOOLEAN, next_at BIGINT)
LANGUAGE plpgsql VOLATILE SET search_path FROM CURRENT SET plan_cache_mode = force_generic_plan SET jit = off AS $fn$
#variable_conflict use_column
DECLARE
  v_durable TEXT := current_setting('synchronous_commit');
BEGIN
  RETURN QUERY SELECT e.id, e.available_at, NULL::BIGINT, NULL::INTEGER, NULL::INTEGER, NULL::BIGINT, NULL::TEXT, NULL::TEXT, NULL::TEXT,
    NULL::TEXT, NULL::TEXT, NULL::BIGINT, NULL::BIGINT, NULL::BIGINT, NULL::SMALLINT, NULL::BIGINT, NULL::BOOLEAN, NULL::BIGINT
  FROM enqueue_messages(p_channel, p_ids, p_keys, p_types, p_data, p_metadata, p_deliver_at, p_now, p_laned, p_wake, p_channel_name,
    p_priorities, p_expires_at) e;
  RETURN QUERY SELECT NULL::TEXT, NULL::BIGINT, c.delivery_id, c.epoch, c.attempts, c.pk, c.id, c.key, c.type, c.data, c.metadata,
    c.created_at, c.deliver_at, c.sequence, c.priority, c.expires_at, c.looked_ahead, c.next_at
  FROM settle_free_and_claim('{}'::BIGINT[], '{}'::INTEGER[], '{}'::TEXT[], '{}'::BIGINT[], '{}'::TEXT[], '{}'::TEXT[], '{}'::INTEGER[],
    '{}'::BIGINT[], '{}'::INTEGER[], '{}'::INTEGER[], '{}'::TEXT[], '{}'::TEXT[], p_now, p_channel, p_limit, p_owner, p_lease_until, true) c
  WHERE c.delivery_id IS NOT NULL OR c.looked_ahead;
  -- The claim made this transaction's commit asynchronous: a send is durable when acknowledged.
  PERFORM set_config('synchronous_commit', v_durable, true);
END
$fn$;
`;
