import {
  byProbability,
  createFaultReceiver,
  firstOf,
  type Decider,
  type Fault,
  type FaultReceiver,
} from '../src/testing/index.js';

/**
 * Per-request faults while the run is producing. The endpoint timeout is 1 s: every answered
 * fault finishes well inside it (so a 2xx is never also a client timeout, which would make an
 * honest duplicate look like a bug), and the ones meant to fail go well past it.
 */
const FAULTS: ReadonlyArray<{ probability: number; fault: Fault }> = [
  { probability: 0.06, fault: { kind: 'status', status: 500 } },
  { probability: 0.02, fault: { kind: 'status', status: 503 } },
  { probability: 0.03, fault: { kind: 'retryAfter', after: 1 } },
  { probability: 0.015, fault: { kind: 'hang' } },
  { probability: 0.03, fault: { kind: 'reset', afterMs: { min: 0, max: 30 } } },
  // 13 bytes, one every 20 ms: a slow but complete 200 in about a quarter of the timeout.
  { probability: 0.03, fault: { kind: 'slowBody', intervalMs: 20, body: '{"slow":true}' } },
  // 27 bytes, one every 150 ms: the client times out mid-body.
  { probability: 0.01, fault: { kind: 'slowBody', intervalMs: 150, body: '{"slow":"past the timeout"}' } },
  { probability: 0.05, fault: { kind: 'delay', ms: { min: 50, max: 300 } } },
];

/** The permanent failure a poisoned message gets on its first request. */
const POISON: Fault = { kind: 'status', status: 400, body: 'poisoned by the chaos run: retry me' };

export interface ChaosReceiver {
  readonly receiver: FaultReceiver;
  /** Makes the first request carrying `id` at `target` fail permanently (400). */
  poison(target: string, id: string): void;
  /** How many poisoned messages were answered 400 so far. */
  poisonedHits(): number;
  /** Stops the random faults; poisons still fire once each, so every operator path is exercised. */
  heal(): void;
}

export async function createChaosReceiver(seed: number): Promise<ChaosReceiver> {
  const poisoned = new Map<string, Set<string>>();
  let hits = 0;
  const poisonDecider: Decider = (request) => {
    const ids = poisoned.get(request.target);
    const hit = request.events.filter((event) => ids?.delete(event.id));
    if (hit.length === 0) return undefined;
    hits++;
    return POISON;
  };
  const random = byProbability({ seed, faults: FAULTS });
  const receiver = await createFaultReceiver({
    host: '127.0.0.1',
    seed: seed + 1,
    latencyMs: { min: 0, max: 10 },
    exclusive: 'key',
    decide: firstOf(poisonDecider, random),
  });
  return {
    receiver,
    poison(target, id) {
      let ids = poisoned.get(target);
      if (!ids) poisoned.set(target, (ids = new Set()));
      ids.add(id);
    },
    poisonedHits: () => hits,
    heal: () => receiver.setDecider(poisonDecider),
  };
}
