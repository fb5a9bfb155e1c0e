/** What the bench prints: one line per run, then the summary tables; and the same summary as JSON. */
import type { RMeasures } from './errand.ts';
import { spread } from './stats.ts';
import type { Ratio, RunResult, Spread, SystemSummary } from './stats.ts';

const fixed = (x: number, digits: number) => x.toFixed(digits);
const cpuText = (cpu: Record<string, number>) => Object.entries(cpu).map(([part, s]) => `${part} ${fixed(s, 3)}`).join(', ');

export function runLine(round: number, rounds: number, name: string, r: RunResult): string {
  return `round ${round}/${rounds} ${name}: ${fixed(r.tasksPerSecond, 0)} tasks/s (submit ${fixed(r.submitPerSecond, 0)}/s); `
    + `latency p50 ${fixed(r.p50, 2)} ms, p95 ${fixed(r.p95, 2)} ms, p99 ${fixed(r.p99, 2)} ms; CPU s per 1000 tasks: ${cpuText(r.cpu)}`;
}

export function rLine(round: number, rounds: number, r: RMeasures): string {
  return `round ${round}/${rounds} R: no-op through the pipeline p50 ${fixed(r.rP50, 2)} ms, p99 ${fixed(r.rP99, 2)} ms; `
    + `R executor round trip p50 ${fixed(r.execP50, 3)} ms, p99 ${fixed(r.execP99, 3)} ms; Rscript per task p50 ${fixed(r.scriptP50, 0)} ms; fork of R ${fixed(r.forkMs, 2)} ms`;
}

const cell = (s: Spread, digits: number) => `${fixed(s.median, digits)} (${fixed(s.min, digits)}-${fixed(s.max, digits)})`;

/** Median (min-max) of each measure, one column per system; then the CPU split; then the ratios. */
export function summaryTables(systems: SystemSummary[], ratios: Ratio[]): string {
  const row = (label: string, pick: (s: SystemSummary) => string) => `| ${label} | ${systems.map(pick).join(' | ')} |`;
  const lines = [
    `| median (min-max) over runs | ${systems.map((s) => `${s.name} (${s.runs} run${s.runs === 1 ? '' : 's'})`).join(' | ')} |`,
    `|---|${systems.map(() => '---|').join('')}`,
    row('throughput, submit to last completion (tasks/s)', (s) => cell(s.tasksPerSecond, 0)),
    row('submit rate alone (tasks/s)', (s) => cell(s.submitPerSecond, 0)),
    row('latency p50, POST to terminal WebSocket message (ms)', (s) => cell(s.p50, 2)),
    row('latency p95 (ms)', (s) => cell(s.p95, 2)),
    row('latency p99 (ms)', (s) => cell(s.p99, 2)),
    '',
    '| CPU seconds per 1000 tasks, median of runs | by process | total |',
    '|---|---|---|',
    ...systems.map((s) => {
      const { total, ...parts } = s.cpu;
      return `| ${s.name} | ${cpuText(parts)} | ${fixed(total ?? 0, 3)} |`;
    }),
  ];
  if (ratios.length > 0) {
    lines.push(
      '',
      '| ratio of medians | throughput | p50 | p95 | p99 | CPU per task |',
      '|---|---|---|---|---|---|',
      ...ratios.map((r) => `| ${r.subject} / ${r.reference} | ${fixed(r.throughput, 2)} | ${fixed(r.p50, 2)} | ${fixed(r.p95, 2)} | ${fixed(r.p99, 2)} | ${fixed(r.cpu, 2)} |`),
      '',
      'Throughput above 1: the first is faster. Latency and CPU above 1: the first is slower, costlier.',
    );
  }
  return lines.join('\n');
}

export interface RSummary { rP50: Spread; rP99: Spread; rOverNodeP50: Spread; execP50: Spread; execP99: Spread; scriptP50: Spread; forkMs: Spread }

export function summariseR(rs: RMeasures[], nodeP50: number[]): RSummary {
  const of = (k: keyof RMeasures) => spread(rs.map((r) => r[k]));
  return {
    rP50: of('rP50'), rP99: of('rP99'), rOverNodeP50: spread(rs.map((r, i) => r.rP50 - nodeP50[i]!)),
    execP50: of('execP50'), execP99: of('execP99'), scriptP50: of('scriptP50'), forkMs: of('forkMs'),
  };
}

export function rTable(r: RSummary): string {
  return [
    '| R measure | median (min-max) |',
    '|---|---|',
    `| R no-op latency p50, POST to terminal message (ms) | ${cell(r.rP50, 2)} |`,
    `| R no-op latency p99 (ms) | ${cell(r.rP99, 2)} |`,
    `| R over Node, p50 (ms) | ${cell(r.rOverNodeP50, 2)} |`,
    `| R executor round trip p50, warm process + reset (ms) | ${cell(r.execP50, 3)} |`,
    `| R executor round trip p99 (ms) | ${cell(r.execP99, 3)} |`,
    `| one Rscript per task p50 (ms) | ${cell(r.scriptP50, 0)} |`,
    `| fork + reap of a warm R, mcparallel (ms) | ${cell(r.forkMs, 2)} |`,
  ].join('\n');
}
