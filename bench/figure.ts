import type { Stats } from './harness.js';

/** How a figure's target is judged. `info` figures are reported without a target. */
export type Target =
  | { readonly kind: 'max-ratio'; readonly value: number }
  | { readonly kind: 'min-ratio'; readonly value: number }
  | { readonly kind: 'max-value'; readonly value: number }
  | { readonly kind: 'info' };

/** One run of a figure: the subject and its floor, measured together. */
export interface Run {
  readonly subject: Stats;
  readonly floor: Stats;
  /** subject / floor, or for rates subject / floor as the title says; NaN when there is no floor. */
  readonly ratio: number;
}

/** What the same design without rollcall does (see bench/peer.ts), for comparison only. */
export interface Peer {
  readonly value: Stats;
  readonly unit: string;
}

/** Everything about a figure but its runs. */
export interface FigureSpec {
  readonly id: string;
  readonly title: string;
  /** What is measured, and what it is measured against. */
  readonly subject: string;
  readonly floor: string;
  readonly unit: string;
  readonly target: Target;
  readonly note?: string | undefined;
  readonly peer?: Peer | undefined;
}

/** One run's outcome, with the figure's description. */
export interface Measured extends FigureSpec {
  readonly run: Run;
}

export interface Figure extends FigureSpec {
  /** At least two, run one after the other. */
  readonly runs: readonly Run[];
}

export type Verdict = 'met' | 'MISSED' | 'unsettled' | 'reported';

export function targetText(target: Target): string {
  switch (target.kind) {
    case 'max-ratio':
      return `≤ ${target.value}x`;
    case 'min-ratio':
      return `≥ ${target.value}x`;
    case 'max-value':
      return `≤ ${target.value}`;
    case 'info':
      return '—';
  }
}

/** Whether one run meets the target; `undefined` for info figures. */
export function runMeets(target: Target, run: Run): boolean | undefined {
  switch (target.kind) {
    case 'max-ratio':
      return run.ratio <= target.value;
    case 'min-ratio':
      return run.ratio >= target.value;
    case 'max-value':
      return run.subject.median <= target.value;
    case 'info':
      return undefined;
  }
}

/** A verdict only where every run agrees: met, missed, or unsettled when they disagree. */
export function verdict(figure: Figure): Verdict {
  const outcomes = figure.runs.map((run) => runMeets(figure.target, run));
  if (outcomes[0] === undefined) return 'reported';
  if (outcomes.every((met) => met === true)) return 'met';
  if (outcomes.every((met) => met === false)) return 'MISSED';
  return 'unsettled';
}

/** The description of a measured figure, without its run. */
function specOf(measured: Measured): FigureSpec {
  const spec: { -readonly [K in keyof Measured]?: Measured[K] } = { ...measured };
  delete spec.run;
  return spec as FigureSpec;
}

/** Runs `measure` `times` times in a row and puts its runs together. */
export async function repeated(measure: () => Promise<Measured>, times = 2): Promise<Figure> {
  const measured: Measured[] = [];
  for (let n = 0; n < times; n++) measured.push(await measure());
  return { ...specOf(measured[0] as Measured), runs: measured.map((m) => m.run) };
}

/** Runs `measure` (which measures several figures at once) `times` times and puts each figure's runs together. */
export async function repeatedAll(measure: () => Promise<Measured[]>, times = 2): Promise<Figure[]> {
  const all: Measured[][] = [];
  for (let n = 0; n < times; n++) all.push(await measure());
  const first = all[0] ?? [];
  return first.map((spec, index) => ({ ...specOf(spec), runs: all.map((measured) => (measured[index] as Measured).run) }));
}
