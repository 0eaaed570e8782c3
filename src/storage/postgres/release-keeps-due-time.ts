/*
 * Migration 34: a lease given back untried keeps its message's due time.
 *
 * A claim of an ordered lane takes several deliveries at once (a batch, or messages claimed ahead
 * to be sent one call each), from the lane's head on, and the head alone has to be due. One
 * behind it may carry a `deliverAt` still to come: it is given back unsent, and release_leases
 * made it available at once, so the next claim sent it early. It now becomes available at the
 * later of now and its message's deliverAt; everything else is given back as before. The
 * function is migration 24's with that one assignment changed.
 */
import { asReplacement, functionIn, replaced } from './derived-sql.js';
import { LEASE_FUNCTIONS_MIGRATION } from './lease-functions.js';

const LABEL = 'migration 34';

export const RELEASE_KEEPS_DUE_TIME_MIGRATION = replaced(functionIn(LEASE_FUNCTIONS_MIGRATION, 'release_leases', LABEL), [
  asReplacement('release_leases'),
  ['UPDATE deliveries d SET status = \'ready\', attempts = d.attempts - 1, available_at = p_now, lease_owner = NULL, updated_at = p_now',
    `UPDATE deliveries d SET status = 'ready', attempts = d.attempts - 1, lease_owner = NULL, updated_at = p_now,
      available_at = GREATEST(p_now, COALESCE((SELECT m.deliver_at FROM messages m WHERE m.pk = d.message_pk), p_now))`],
], LABEL);
