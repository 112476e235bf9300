// Rewriting one block of bench/README.md: the text between `<!-- NAME:start -->` and `<!-- NAME:end -->` becomes
// the new figures; a README without the block (or without a README) gets the block appended under `heading`.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

export function writeFiguresBlock(readme: string, name: string, heading: string, block: string): void {
  const start = `<!-- ${name}:start -->`;
  const end = `<!-- ${name}:end -->`;
  const current = existsSync(readme) ? readFileSync(readme, 'utf8') : '# Benchmarks\n';
  const a = current.indexOf(start);
  const z = current.indexOf(end);
  const next =
    a >= 0 && z > a
      ? `${current.slice(0, a + start.length)}\n${block}\n${current.slice(z)}`
      : `${current.trimEnd()}\n\n## ${heading}\n\n${start}\n${block}\n${end}\n`;
  writeFileSync(readme, next);
}
