import type { FastifyInstance } from 'fastify';
import type { Target } from '../../domain/channel.js';
import type { EndpointLimitView } from '../../delivery/endpoint-limits.js';
import type { ServerContext } from '../context.js';
import { iso } from './messages.js';

/**
 * Flow control routes: every endpoint with its limits as this instance applies them now, and the
 * concurrency slots every instance on the store holds (read from the store at each request).
 */
export function flowRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.get('/v1/endpoints', async () => {
    const views = new Map((ctx.endpointLimits?.() ?? []).map((v) => [v.endpoint, v]));
    const limits = ctx.config.endpointLimits;
    const shared = [...limits.values()].some((l) => l.maxConcurrency !== null);
    const holders = shared ? await ctx.store.listConcurrencySlots() : [];
    return {
      items: [...limits.keys()].map((name) => {
        const targets = ctx.config.targets.filter((t) => t.endpoint === name && !t.name.startsWith('_'));
        const configured = limits.get(name)!;
        const held = holders.filter((h) => h.key === `endpoint:${name}`);
        return {
          name,
          channels: targets.map((t) => t.name),
          ...presentLimits(views.get(name) ?? null, configured),
          // Slots each live instance holds: its calls in flight (and, for a few ms, slots it is about to use or release).
          inFlightTotal: configured.maxConcurrency === null ? null : held.reduce((n, h) => n + h.held, 0),
          instances: held.map((h) => ({ instance: h.owner, inFlight: h.held, waiting: h.wanted, expiresAt: iso(h.expiresAt) })),
        };
      }),
      next: null,
    };
  });
}

function presentLimits(view: EndpointLimitView | null, configured: { rateLimit: { perSecond: number; burst: number } | null; maxConcurrency: number | null; adaptive: boolean }) {
  return {
    rateLimit: configured.rateLimit,
    maxConcurrency: configured.maxConcurrency,
    adaptive: configured.adaptive,
    currentRate: view?.currentRate ?? configured.rateLimit?.perSecond ?? null,
    currentConcurrency: view?.currentConcurrency ?? configured.maxConcurrency,
    inFlight: view?.inFlight ?? null,
    waiting: view?.waitingTargets ?? [],
    throttled: view?.throttledTotal ?? 0,
    waits: view?.waitsTotal ?? 0,
    cuts: view?.cuts ?? 0,
    heldUntil: iso(view?.heldUntil ?? null),
  };
}

/** The endpoint limits a channel is under, for `/v1/channels`; undefined when its endpoint has none. */
export function targetLimits(ctx: ServerContext, target: Target) {
  const view = ctx.endpointLimits?.().find((v) => v.endpoint === target.endpoint);
  if (!view) return undefined;
  return { rate: view.currentRate, concurrency: view.currentConcurrency, waiting: view.waitingTargets.includes(target.name) };
}

/** Backpressure of a queue or topic, for `/v1/channels`; undefined when it has no limit. */
export function channelPressure(ctx: ServerContext, channel: string) {
  const view = ctx.backpressure?.views().find((v) => v.channel === channel);
  if (!view) return undefined;
  return { maxDepth: view.limits.maxDepth, maxOldestAgeMs: view.limits.maxOldestAgeMs, throttled: view.throttled, refused: view.refusedTotal };
}
