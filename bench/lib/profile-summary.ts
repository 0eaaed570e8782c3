/**
 * Where a V8 CPU profile (`.cpuprofile`, as written by `--cpu-prof` or `bench/delivery-cpu.ts
 * --profile`) spent its time: self time by function, then by file or package. Native calls
 * (a SQLite statement's `run`/`get`/`all`, a socket's `writev`) are listed with their caller,
 * since the native frame alone does not say which statement or socket it was.
 *
 *   node --import tsx bench/lib/profile-summary.ts <file.cpuprofile> [--top 40]
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '40' } } });
if (positionals.length !== 1) throw new Error('usage: profile-summary.ts <file.cpuprofile> [--top 40]');
const TOP = Number(values.top);
const profile = JSON.parse(readFileSync(positionals[0]!, 'utf8')) as Profile;
const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
const parents = new Map<number, number>();
for (const n of profile.nodes) for (const child of n.children ?? []) parents.set(child, n.id);

const where = (url: string) => {
  if (url === '') return '(native)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  return pkg ? pkg[1]! : url.split('/').slice(-2).join('/');
};
const label = (n: ProfileNode) => `${n.callFrame.functionName || '(anonymous)'} ${where(n.callFrame.url)}${n.callFrame.url ? `:${n.callFrame.lineNumber + 1}` : ''}`;

const self = new Map<number, number>();
let total = 0;
profile.samples.forEach((id, i) => {
  const dt = profile.timeDeltas[i] ?? 0;
  total += dt;
  self.set(id, (self.get(id) ?? 0) + dt);
});

const byFunction = new Map<string, number>();
const byFile = new Map<string, number>();
for (const [id, time] of self) {
  const node = nodes.get(id)!;
  let name = label(node);
  // A native frame: name its first JavaScript caller.
  if (node.callFrame.url === '' && !name.startsWith('(')) {
    let up = parents.get(id);
    while (up !== undefined && nodes.get(up)!.callFrame.url === '') up = parents.get(up);
    if (up !== undefined) name = `${name} <- ${label(nodes.get(up)!)}`;
  }
  byFunction.set(name, (byFunction.get(name) ?? 0) + time);
  const file = node.callFrame.url ? where(node.callFrame.url) : node.callFrame.functionName;
  byFile.set(file, (byFile.get(file) ?? 0) + time);
}

const print = (title: string, map: Map<string, number>) => {
  console.log(`\n${title}`);
  for (const [name, time] of [...map].sort((a, b) => b[1] - a[1]).slice(0, TOP)) console.log(`${((time / total) * 100).toFixed(1).padStart(5)}%  ${name}`);
};
console.log(`${(total / 1000).toFixed(0)} ms sampled (idle included: the share of busy time is 100% minus (idle))`);
print('self time by function', byFunction);
print('self time by file or package', byFile);
