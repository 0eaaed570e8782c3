import type { SystemDescription } from '../systems/bench-system.js';
import type { BenchCase, MeasureInfo, Sizes } from '../scenarios/types.js';
import type { HostUsage } from './host-protocol.js';
import type { MachineInfo } from './machine-info.js';
import type { CommitFloor } from './commit-floor.js';
import { median } from './stats.js';

export interface CaseRunResult {
  readonly run: number;
  readonly measures: Readonly<Record<string, number>>;
  readonly failures: readonly string[];
  readonly usage?: HostUsage;
  readonly wallMs: number;
  /** 1-minute load average when the run began; above the core count, other work competed. */
  readonly loadAtStart: number;
  /** Set when the run ended in an exception (a stall, a crash, a lost service), not a check. */
  readonly aborted?: string;
  /** Set when this run replaces one that was aborted; check failures are never retried. */
  readonly retriedAfter?: string;
}

export interface CaseSummary {
  readonly scenario: string;
  readonly measures: readonly MeasureInfo[];
  readonly status: 'ok' | 'failed';
  readonly failures: readonly string[];
  /** Medians over the runs; empty when the case failed, so no wrong figure is reported. */
  readonly median: Readonly<Record<string, number>>;
  readonly peakRssKb: number;
  readonly runs: readonly CaseRunResult[];
}

export interface SystemResult {
  readonly name: string;
  description?: SystemDescription;
  readonly cases: Record<string, CaseSummary>;
}

export interface BenchResults {
  readonly machine: MachineInfo;
  readonly options: { readonly quick: boolean; readonly runs: number; readonly scenarios: readonly string[]; readonly sizes: Sizes };
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly loadAtEnd: string;
  readonly baseline: string;
  /** PostgreSQL's own durable-commit latency at the latency case's rate, when a PostgreSQL system ran that case. */
  readonly commitFloor?: CommitFloor | undefined;
  readonly systems: readonly SystemResult[];
  /** `ratios[peer]["case.measure"]` = baseline median / peer median, when both passed. */
  readonly ratios: Readonly<Record<string, Readonly<Record<string, number>>>>;
}

export function summarizeCase(benchCase: BenchCase, runs: readonly CaseRunResult[]): CaseSummary {
  const failures = runs.flatMap((r) => r.failures.map((f) => `run ${r.run}: ${f}`));
  const status = failures.length === 0 && runs.length > 0 ? 'ok' : 'failed';
  const medians: Record<string, number> = {};
  if (status === 'ok') {
    for (const m of benchCase.measures) medians[m.name] = median(runs.map((r) => r.measures[m.name] ?? Number.NaN));
  }
  return {
    scenario: benchCase.scenario,
    measures: benchCase.measures,
    status,
    failures,
    median: medians,
    peakRssKb: Math.max(0, ...runs.map((r) => r.usage?.maxRssKb ?? 0)),
    runs,
  };
}

export function computeRatios(systems: readonly SystemResult[], baseline: string): BenchResults['ratios'] {
  const base = systems.find((s) => s.name === baseline);
  if (!base) return {};
  const ratios: Record<string, Record<string, number>> = {};
  for (const peer of systems) {
    if (peer.name === baseline) continue;
    const row: Record<string, number> = {};
    for (const [caseName, summary] of Object.entries(base.cases)) {
      const other = peer.cases[caseName];
      if (summary.status !== 'ok' || other?.status !== 'ok') continue;
      for (const m of summary.measures) {
        const ratio = (summary.median[m.name] ?? Number.NaN) / (other.median[m.name] ?? Number.NaN);
        if (Number.isFinite(ratio)) row[`${caseName}.${m.name}`] = ratio;
      }
    }
    ratios[peer.name] = row;
  }
  return ratios;
}
