/** Resolves after `ms`, or at once when `signal` aborts (never rejects: loops check the signal themselves). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted || ms <= 0) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** `mean` jittered uniformly by ±50%, so crashes do not fall into a rhythm the system could hide in. */
export function jitter(mean: number, random: () => number): number {
  return mean * (0.5 + random());
}

/** A random integer in [min, max]. */
export function between(min: number, max: number, random: () => number): number {
  return min + Math.floor(random() * (max - min + 1));
}
