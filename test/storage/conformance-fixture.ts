import { afterEach, beforeEach } from 'vitest';
import { createFakeClock, type FakeClock } from '../../src/domain/clock.js';
import type { ChannelDeclaration, Store } from '../../src/storage/port.js';

/** The channels every conformance case starts with: one of each kind and ordering. */
export const CONFORMANCE_CHANNELS: readonly ChannelDeclaration[] = [
  { name: 'q', kind: 'queue' },
  { name: 'f', kind: 'fifo' },
  { name: 't', kind: 'topic' },
  { name: 't/a', kind: 'subscription', topic: 't', ordering: 'topic' },
  { name: 't/b', kind: 'subscription', topic: 't', ordering: 'key' },
];

/**
 * Registers the per-case set-up shared by the conformance suites: a fresh store on a fake clock,
 * migrated, with `channels` declared, closed after the case. `use` receives each case's store and clock.
 */
export function useConformanceStore(
  open: (clock: FakeClock) => Promise<Store>,
  use: (store: Store, clock: FakeClock) => void,
  channels: readonly ChannelDeclaration[] = CONFORMANCE_CHANNELS,
): void {
  let store: Store | undefined;
  beforeEach(async () => {
    const clock = createFakeClock();
    store = await open(clock);
    await store.migrate();
    await store.declare(channels);
    use(store, clock);
  });
  afterEach(async () => {
    await store?.close();
  });
}
