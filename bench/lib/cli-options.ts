import { SCENARIOS, type ScenarioName } from '../scenarios/index.js';

export interface CliOptions {
  /** Systems to run, in report order; default: every registered system. */
  readonly only: readonly string[] | undefined;
  readonly scenarios: readonly ScenarioName[];
  readonly quick: boolean;
  /** Runs per case; the report gives the median. Default 3, or 1 with `--quick`. */
  readonly runs: number;
  readonly help: boolean;
  /** Name of the results files: bench/results/<out>.{json,md}. Default `latest`. */
  readonly out: string;
}

export const USAGE = `Usage: npm run bench -- [--quick] [--runs N] [--only a,b] [--scenarios list]

  --quick            small sizes, 1 run (drain 5,000, latency 3 s, fifo 200x10)
  --runs N           runs per case, median reported (default 3; 1 with --quick)
  --only a,b         systems to run (default: all registered)
  --scenarios list   any of ${SCENARIOS.join(',')} (default: all)
  --out NAME         write bench/results/NAME.{json,md} (default: latest)
`;

function list(value: string | undefined, flag: string): string[] {
  if (!value || value.startsWith('--')) throw new Error(`${flag} needs a comma-separated value`);
  return value.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
}

function scenarioList(value: string | undefined): ScenarioName[] {
  const names = list(value, '--scenarios');
  for (const name of names) {
    if (!(SCENARIOS as readonly string[]).includes(name)) throw new Error(`unknown scenario "${name}"`);
  }
  return names as ScenarioName[];
}

export function parseCliOptions(argv: readonly string[]): CliOptions {
  let only: string[] | undefined;
  let scenarios: ScenarioName[] = [...SCENARIOS];
  let quick = false;
  let runs: number | undefined;
  let help = false;
  let out = 'latest';
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    if (arg === '--quick') quick = true;
    else if (arg === '--help' || arg === '-h') help = true;
    else if (arg === '--only') only = list(argv[++i], '--only');
    else if (arg === '--scenarios') scenarios = scenarioList(argv[++i]);
    else if (arg === '--out') {
      out = argv[++i] ?? '';
      if (!/^[a-z0-9][a-z0-9-]{0,40}$/.test(out)) throw new Error('--out needs a name of lowercase letters, digits and dashes');
    }
    else if (arg === '--runs') {
      runs = Number(argv[++i]);
      if (!Number.isInteger(runs) || runs < 1 || runs > 50) throw new Error('--runs needs an integer from 1 to 50');
    } else throw new Error(`unknown argument "${arg}"\n${USAGE}`);
  }
  return { only, scenarios, quick, runs: runs ?? (quick ? 1 : 3), help, out };
}
