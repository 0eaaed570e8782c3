import { createReceiver, type DeliveryContext, type ReceivedEvent } from '../../src/receiver/index.js';
import { mountReceivers } from './framework-servers.js';

export const DEFERRING_SECRET = 'deferring-app-secret';

/**
 * A receiver (secret DEFERRING_SECRET) that defers the events `deferIf` picks, by default every
 * first attempt, keeping the completion token of each, and applies the others at once.
 */
export async function deferringApp(deferIf: (event: ReceivedEvent, ctx: DeliveryContext<undefined>) => boolean = (_e, ctx) => ctx.attempt === 1) {
  const calls: Array<[string, number]> = [];
  const tokens = new Map<string, string>();
  const receiver = createReceiver({
    secrets: DEFERRING_SECRET,
    onError: () => {},
    handlers: {
      '*': (event, ctx) => {
        calls.push([event.id, ctx.attempt]);
        if (deferIf(event, ctx)) tokens.set(event.id, ctx.defer());
      },
    },
  });
  const mounted = await mountReceivers('fetch', { '/work': receiver });
  return { url: mounted.url, calls, tokens };
}
