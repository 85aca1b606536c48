/** Prints the table, writes bench/results.json and regenerates docs/benchmarks.md and its chart. */
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { targetText, verdict, type Figure, type Run } from './figure.js';
import type { Stats } from './harness.js';

const format = (value: number): string =>
  Number.isNaN(value) ? '—' : value >= 1000 ? Math.round(value).toLocaleString('en-US') : value >= 10 ? value.toFixed(1) : value.toFixed(2);

const withSpread = (value: Stats, unit: string): string =>
  value.p25 === value.p75 ? `${format(value.median)} ${unit}` : `${format(value.median)} ${unit} (IQR ${format(value.p25)}–${format(value.p75)})`;

const ratioText = (figure: Figure, run: Run): string => (figure.target.kind === 'max-value' || Number.isNaN(run.ratio) ? '—' : `${run.ratio.toFixed(2)}x`);

function rows(figures: readonly Figure[]): string[][] {
  return figures.map((f) => [
    f.title,
    ...f.runs.slice(0, 2).map((run) => withSpread(run.subject, f.unit)),
    Number.isNaN(f.runs[0]?.floor.median ?? Number.NaN) ? '—' : `${format(f.runs[0]?.floor.median ?? Number.NaN)} ${f.unit}`,
    f.runs.map((run) => ratioText(f, run)).join(' / '),
    targetText(f.target),
    f.peer === undefined ? '—' : withSpread(f.peer.value, f.peer.unit),
    verdict(f),
  ]);
}

const HEADER = ['figure', 'run 1 (median)', 'run 2 (median)', 'floor (run 1)', 'ratio (run 1 / 2)', 'target', 'peer', 'result'];

export function printTable(figures: readonly Figure[]): void {
  const all = [HEADER, ...rows(figures)];
  const widths = HEADER.map((_, column) => Math.max(...all.map((row) => (row[column] ?? '').length)));
  for (const [index, row] of all.entries()) {
    console.log(row.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join('  '));
    if (index === 0) console.log(widths.map((w) => '─'.repeat(w)).join('  '));
  }
}

const medianRatio = (figure: Figure): number => {
  const ratios = figure.runs.map((run) => run.ratio).sort((a, b) => a - b);
  return ratios[Math.floor(ratios.length / 2)] ?? Number.NaN;
};

function chart(figures: readonly Figure[]): string {
  const ratioFigures = figures.filter((f) => f.target.kind === 'max-ratio' || f.target.kind === 'min-ratio');
  const barHeight = 26;
  const left = 430;
  const width = 880;
  const scaleMax = Math.max(2.5, ...ratioFigures.flatMap((f) => [...f.runs.map((run) => run.ratio), 'value' in f.target ? f.target.value : 0])) * 1.1;
  const x = (ratio: number): number => left + (ratio / scaleMax) * (width - left - 60);
  const height = 50 + ratioFigures.length * (barHeight + 14);
  const colours = { met: '#2e7d32', MISSED: '#c62828', unsettled: '#ef6c00', reported: '#757575' };
  const bars = ratioFigures
    .map((f, index) => {
      const y = 40 + index * (barHeight + 14);
      const target = 'value' in f.target ? f.target.value : 0;
      const ratio = medianRatio(f);
      return [
        `<text x="${left - 10}" y="${y + 17}" text-anchor="end" font-size="13">${escapeXml(f.title)}</text>`,
        `<rect x="${left}" y="${y}" width="${Math.max(0, x(ratio) - left)}" height="${barHeight}" fill="${colours[verdict(f)]}" opacity="0.85"/>`,
        `<text x="${x(ratio) + 6}" y="${y + 17}" font-size="12">${f.runs.map((run) => run.ratio.toFixed(2)).join(' / ')}x</text>`,
        `<line x1="${x(target)}" x2="${x(target)}" y1="${y - 4}" y2="${y + barHeight + 4}" stroke="#000" stroke-dasharray="4 3"/>`,
      ].join('\n  ');
    })
    .join('\n  ');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif">
  <text x="10" y="22" font-size="15" font-weight="bold">Measured / floor, runs 1 and 2 (bars: their median); dashed line: target</text>
  <line x1="${x(1)}" x2="${x(1)}" y1="32" y2="${height - 8}" stroke="#999"/>
  <text x="${x(1) + 3}" y="${height - 10}" font-size="11" fill="#666">1x = floor</text>
  ${bars}
</svg>
`;
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export function writeReports(root: string, figures: readonly Figure[], durationMs: number): void {
  const machine = `${cpus().length} × ${cpus()[0]?.model.trim() ?? 'unknown CPU'}, Node ${process.version}`;
  const results = { generatedAt: new Date().toISOString(), machine, durationMs, figures: figures.map((f) => ({ ...f, result: verdict(f) })) };
  writeFileSync(join(root, 'bench/results.json'), `${JSON.stringify(results, null, 2)}\n`);
  writeFileSync(join(root, 'docs/benchmarks.svg'), chart(figures));
  const table = [HEADER, HEADER.map(() => '---'), ...rows(figures)].map((row) => `| ${row.join(' | ')} |`).join('\n');
  const details = figures
    .map((f) => `- **${f.title}**: ${f.subject}; floor: ${f.floor}.${f.peer === undefined ? '' : ' Peer: the same for the peer design.'}${f.note === undefined ? '' : ` ${f.note}.`}`)
    .join('\n');
  const notMet = figures.filter((f) => verdict(f) === 'MISSED' || verdict(f) === 'unsettled');
  const findings =
    notMet.length === 0
      ? 'Every target was met in both runs.'
      : notMet
          .map((f) => `- **${f.title}** ${verdict(f) === 'MISSED' ? 'missed its target in every run' : 'met its target in some runs only (no verdict)'} (${f.runs.map((run) => (f.target.kind === 'max-value' ? `${format(run.subject.median)} ${f.unit}` : `${run.ratio.toFixed(2)}x`)).join(' / ')} against ${targetText(f.target)}).${f.note === undefined ? '' : ` ${f.note}.`}`)
          .join('\n');
  writeFileSync(
    join(root, 'docs/benchmarks.md'),
    `# Benchmarks

Generated by \`npm run bench\` (do not edit by hand). Every figure is measured against a floor
doing the same work without rollcall (or a stated budget), in the same run on the same machine;
floor and subject run in alternating batches after a warm-up. Each figure is measured twice, one
run after the other, and the table shows both runs' medians with their interquartile ranges: a
target is **met** or **MISSED** only when both runs agree, otherwise the figure is **unsettled**.
Ratios, not absolute times, are what carries over to other machines.

The **peer** column shows what the straightforward design a team writes without rollcall does on
the same Redis: instances as keys with a TTL refreshed by heartbeats, listed in a set per service,
read by callers at most every 5 s (\`SMEMBERS\` + \`MGET\` with ioredis) and picked round-robin from
that copy (bench/peer.ts).

Last run: ${results.generatedAt} on ${machine}, ${Math.round(durationMs / 1000)} s.

${table}

![Measured / floor ratios against targets](benchmarks.svg)

## What each figure measures

${details}

## Findings

${findings}
`,
  );
}
