// CPU profiles (--profile, children run with --cpu-prof): self time per function and per package/module, per thread.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fmt } from './format.js';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

function areaOf(url: string, fn: string): string {
  if (!url) return fn.startsWith('(') ? fn : '(native)';
  if (url.startsWith('node:')) return 'node internals';
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return nm[1]!;
  const own = /\/dist\/src\/(.+?)\.js$/.exec(url);
  if (own) return `conversa ${own[1]}`;
  return url;
}

export function summarizeProfile(file: string, top = 15): string {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  let totalUs = 0;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    selfUs.set(id, (selfUs.get(id) ?? 0) + dt);
    totalUs += dt;
  });
  const byFn = new Map<string, number>();
  const byArea = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    if (!node) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    const name = functionName || '(anonymous)';
    const where = url
      ? `${url.replace(/^.*\/(node_modules|dist)\//, '$1/').replace(/^file:\/\//, '')}:${lineNumber + 1}`
      : '';
    const key = where ? `${name}  ${where}` : name;
    byFn.set(key, (byFn.get(key) ?? 0) + us);
    const area = areaOf(url, name);
    byArea.set(area, (byArea.get(area) ?? 0) + us);
  }
  const busyUs = totalUs - (byFn.get('(idle)') ?? 0);
  const rows = (m: Map<string, number>, n: number) =>
    [...m]
      .filter(([k]) => k !== '(idle)')
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([k, us]) => `    ${fmt(us / 1000).padStart(7)} ms ${fmt((100 * us) / busyUs, 1).padStart(5)}%  ${k}`)
      .join('\n');
  const thread = /\.(\d+)\.(\d+)\.cpuprofile$/.exec(file)?.[1] === '0' ? 'main thread' : 'worker thread';
  return `  ${path.basename(file)} (${thread}): ${fmt(totalUs / 1e6, 1)} s profiled, ${fmt(busyUs / 1e6, 1)} s busy\n  by package/module (self time, % of busy):\n${rows(byArea, 10)}\n  by function:\n${rows(byFn, top)}`;
}
