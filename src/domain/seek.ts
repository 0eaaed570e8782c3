/**
 * Seeking a subscription: moving where it reads its topic, backward (replay) or forward (skip
 * ahead). After a seek to point P (a sequence, or the first event published at or after a time)
 * the subscription's next event is the first retained event at or after P, in every lane:
 *
 * - delivered events at or after P are delivered again, with a fresh budget of attempts, and
 *   retained events the subscription never had a delivery for (it was created later with
 *   `startFrom: latest`) get one; skipped events at or after P (by an earlier seek forward, or by
 *   an operator) are delivered too, like Pub/Sub's seek: a seek back undoes a seek forward, and
 *   every kept event at or after P that passes the current filter is delivered, in order;
 * - undelivered events before P are moved aside as `skipped`, kept with their history; skipped
 *   events before P stay skipped;
 * - a delivery in flight is fenced: its epoch moves on, so the running call's outcome changes
 *   nothing, and its lane is not claimed again before the lease that call held expires (one call
 *   per lane at a time, as with any lease takeover);
 * - every lane of the subscription becomes active (a stall is cleared) with its head due now;
 * - lane positions are rewound: each lane's delivered count goes back by the delivered events it
 *   replays, so positions stay gap-free. A replayed event carries the position it had when first
 *   delivered unless a skipped event brought back comes before it in its lane: that one was never
 *   delivered, so it takes the next position after the rewound count and the events after it move
 *   up by one. A receiver that remembers positions sees what it applied as repeats (and a skipped
 *   event brought back at a position it passed as one too); a receiver that starts over (its read
 *   model and inbox emptied) applies the replay from its first event.
 *
 * A point older than what the topic still keeps is refused: the events between it and the
 * oldest kept one are gone and could not be replayed.
 */

export type SeekPoint = { sequence: number } | { time: number };

/** What a topic still keeps, as a seek needs to know it. */
export interface TopicKept {
  /** The last sequence handed out (0: nothing published yet). */
  lastSequence: number;
  /** The highest sequence swept away by retention (0: none). Every event after it is kept. */
  sweptSequence: number;
  /** The newest publish time among swept events (0: none). */
  sweptCreatedAt: number;
}

/**
 * Why a seek to `point` cannot be done, or null. `resolved` is the point as a sequence (a time
 * resolves to the first kept event published at or after it, or `lastSequence + 1` when none).
 */
export function seekRefusal(point: SeekPoint, resolved: number, kept: TopicKept): string | null {
  const oldest = kept.sweptSequence + 1;
  if ('sequence' in point) {
    if (point.sequence > kept.lastSequence + 1) {
      return `sequence ${point.sequence} has not been published yet: the topic's last sequence is ${kept.lastSequence}; seek to ${kept.lastSequence + 1} to skip everything published so far`;
    }
    if (point.sequence <= kept.sweptSequence) {
      return `sequence ${point.sequence} is older than what the topic keeps: events up to ${kept.sweptSequence} were removed by retention; seek to ${oldest} or later, or raise topics.<topic>.retention to keep events longer`;
    }
    return null;
  }
  if (kept.sweptSequence > 0 && point.time <= kept.sweptCreatedAt) {
    return `${new Date(point.time).toISOString()} is older than what the topic keeps: events published up to ${new Date(kept.sweptCreatedAt).toISOString()} (sequence ${kept.sweptSequence}) were removed by retention; seek to a later time or to sequence ${oldest}, or raise topics.<topic>.retention`;
  }
  return resolved > 0 ? null : 'the point resolved to no sequence';
}
