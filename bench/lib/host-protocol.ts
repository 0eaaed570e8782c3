import type { BenchEnv, ChannelSpec, SystemDescription } from '../systems/bench-system.js';
import type { MessagePlan } from './messages.js';

/** Requests the orchestrator sends to a system host over IPC, and their results. */
export interface HostOps {
  setup: { args: { system: string; channel: ChannelSpec; env: Omit<BenchEnv, 'log'> }; result: SystemDescription };
  produce: {
    args: { plan: MessagePlan; mode: 'single' | 'batch'; producers: number; batchSize: number };
    result: { count: number; elapsedMs: number };
  };
  openLoop: {
    args: { prefix: string; ratePerSec: number; durationMs: number; maxOutstanding: number };
    result: { sent: number; failed: number; peakOutstanding: number; firstError?: string };
  };
  start: { args: Record<string, never>; result: { startedAt: number } };
  stop: { args: Record<string, never>; result: Record<string, never> };
  teardown: { args: Record<string, never>; result: Record<string, never> };
  usage: { args: Record<string, never>; result: HostUsage };
}

export interface HostUsage {
  /** Peak RSS of the system: the adapter's own figure when it has one, else the host's. */
  readonly maxRssKb: number;
  readonly cpuUserMs: number;
  readonly cpuSystemMs: number;
}

export type HostOpName = keyof HostOps;

export interface HostRequest<K extends HostOpName = HostOpName> {
  readonly id: number;
  readonly op: K;
  readonly args: HostOps[K]['args'];
}

export type HostResponse =
  | { readonly id: number; readonly ok: true; readonly result: unknown }
  | { readonly id: number; readonly ok: false; readonly error: string };

/** Unsolicited lines from the host (adapter logs), relayed to the orchestrator's output. */
export interface HostLog {
  readonly log: string;
}
