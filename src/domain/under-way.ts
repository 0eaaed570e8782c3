/** Work started and not yet ended, for a stop (or a step that must follow it) to wait for. */
export interface UnderWay {
  /** Holds `work` until it ends, however it ends; returns it. */
  track<T>(work: Promise<T>): Promise<T>;
  /** Resolves once nothing is under way, work added meanwhile included; never rejects. */
  settled(): Promise<void>;
}

export function createUnderWay(): UnderWay {
  const works = new Set<Promise<unknown>>();
  return {
    track(work) {
      works.add(work);
      const done = () => void works.delete(work);
      work.then(done, done);
      return work;
    },
    async settled() {
      while (works.size > 0) await Promise.allSettled(works);
    },
  };
}
