/** Called with the targets that have new work (a queue itself, a topic's subscriptions). */
export type WakeListener = (targets: string[]) => void;

/**
 * Wakes every listener for `targets` (none when empty). The sends that made the work are
 * committed already: a listener's failure must not fail them, and the dispatcher also polls.
 */
export function wakeAll(listeners: Iterable<WakeListener>, targets: string[]): void {
  if (targets.length === 0) return;
  for (const listener of listeners) {
    try {
      listener(targets);
    } catch {
      // nothing is lost: the dispatcher also polls
    }
  }
}
