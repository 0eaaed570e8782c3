import type { BenchResults, SystemResult } from './results.js';

function formatValue(value: number | undefined, unit: string): string {
  if (value === undefined || !Number.isFinite(value)) return 'n/a';
  if (unit === 'ms') return value < 10 ? value.toFixed(2) : value.toFixed(1);
  return Math.round(value).toLocaleString('en-US');
}

function caseNames(systems: readonly SystemResult[]): string[] {
  return [...new Set(systems.flatMap((s) => Object.keys(s.cases)))];
}

function resultsTable(results: BenchResults): string[] {
  const names = results.systems.map((s) => s.name);
  const peers = Object.keys(results.ratios);
  const header = ['case', 'measure', 'unit', ...names, ...peers.map((p) => `${results.baseline}/${p}`)];
  const lines = [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`];
  for (const caseName of caseNames(results.systems)) {
    const measures = results.systems.map((s) => s.cases[caseName]).find((c) => c)?.measures ?? [];
    for (const m of measures) {
      const cells = results.systems.map((s) => {
        const summary = s.cases[caseName];
        if (!summary) return '—';
        return summary.status === 'ok' ? formatValue(summary.median[m.name], m.unit) : '**FAILED**';
      });
      const ratios = peers.map((p) => {
        const r = results.ratios[p]?.[`${caseName}.${m.name}`];
        return r === undefined ? '—' : `${r.toFixed(2)}×`;
      });
      const unit = `${m.unit} (${m.better} is better)`;
      lines.push(`| ${[caseName, m.label, unit, ...cells, ...ratios].join(' | ')} |`);
    }
  }
  return lines;
}

function rssTable(results: BenchResults): string[] {
  const names = results.systems.map((s) => s.name);
  const lines = [`| case | ${names.join(' | ')} |`, `|---|${names.map(() => '---').join('|')}|`];
  for (const caseName of caseNames(results.systems)) {
    const cells = results.systems.map((s) => {
      const kb = s.cases[caseName]?.peakRssKb;
      return kb ? (kb / 1024).toFixed(0) : '—';
    });
    lines.push(`| ${caseName} | ${cells.join(' | ')} |`);
  }
  return lines;
}

/** The database's own commit latency at the latency case's rate: no PostgreSQL system answers a durable send faster. */
function commitFloorLine(results: BenchResults): string[] {
  const f = results.commitFloor;
  if (!f) return [];
  const ms = (v: number) => v.toFixed(v < 10 ? 2 : 1);
  return [
    `PostgreSQL alone, one single-row durable commit per message at ${f.ratePerSec}/s for ${f.seconds} s (open loop, before the latency case): ` +
      `p50 ${ms(f.latency.p50)}, p95 ${ms(f.latency.p95)}, p99 ${ms(f.latency.p99)}, max ${ms(f.latency.max)} ms.`,
  ];
}

/** Other work on the machine competes with the system under test; this shows how much. */
function loadTable(results: BenchResults): string[] {
  const names = results.systems.map((s) => s.name);
  const lines = [`| case | ${names.join(' | ')} |`, `|---|${names.map(() => '---').join('|')}|`];
  for (const caseName of caseNames(results.systems)) {
    const cells = results.systems.map((s) => {
      const loads = (s.cases[caseName]?.runs ?? []).map((r) => r.loadAtStart);
      return loads.length > 0 ? `${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)}` : '—';
    });
    lines.push(`| ${caseName} | ${cells.join(' | ')} |`);
  }
  return lines;
}

function retryList(results: BenchResults): string[] {
  const lines = results.systems.flatMap((s) =>
    Object.entries(s.cases).flatMap(([c, summary]) =>
      summary.runs.filter((r) => r.retriedAfter).map((r) => `- ${s.name} / ${c} run ${r.run}: ${r.retriedAfter}`),
    ),
  );
  return lines.length > 0 ? ['## Runs retried after an abort (figures are from the retry)', '', ...lines, ''] : [];
}

function failureList(results: BenchResults): string[] {
  const lines = results.systems.flatMap((s) =>
    Object.entries(s.cases).flatMap(([c, summary]) => summary.failures.map((f) => `- ${s.name} / ${c}: ${f}`)),
  );
  return lines.length > 0 ? ['## Failed cases', '', ...lines, ''] : [];
}

function systemSection(system: SystemResult): string[] {
  const d = system.description;
  if (!d) return [`### ${system.name}`, '', 'setup never completed', ''];
  return [
    `### ${system.name} (${d.version})`,
    '',
    ...d.settings.map((s) => `- ${s}`),
    ...Object.entries(d.mechanisms).map(([kind, how]) => `- ${kind}: ${how}`),
    ...d.notes.map((n) => `- note: ${n}`),
    '',
  ];
}

export function renderMarkdown(results: BenchResults): string {
  const m = results.machine;
  const o = results.options;
  return [
    '# Offload benchmark results',
    '',
    `Machine: ${m.cpuModel}, ${m.cores} cores, ${m.ramGiB} GiB RAM, ${m.os}; Node ${m.node}.`,
    `Services: ${m.redis}; ${m.postgres}.`,
    `Run: ${results.startedAt} to ${results.finishedAt}; ${o.quick ? 'quick' : 'full'} sizes; ` +
      `median of ${o.runs} run(s); scenarios ${o.scenarios.join(', ')}.`,
    `Load average (1/5/15 min): ${m.loadAtStart} at start, ${results.loadAtEnd} at end.`,
    ...commitFloorLine(results),
    `Sizes: ${JSON.stringify(o.sizes)}`,
    '',
    '## Results',
    '',
    ...resultsTable(results),
    '',
    '## Peak RSS of the system process (MiB, highest over runs)',
    '',
    'Node process that stores and delivers; the Redis and PostgreSQL servers are not included.',
    '',
    ...rssTable(results),
    '',
    `## 1-minute load average when each run began (lowest–highest; ${m.cores} cores)`,
    '',
    ...loadTable(results),
    '',
    ...failureList(results),
    ...retryList(results),
    '## Settings and mechanisms',
    '',
    ...results.systems.flatMap(systemSection),
  ].join('\n');
}
