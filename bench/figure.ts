import type { Stats } from './harness.js';

/** How a figure's target is judged. `info` figures are reported without a target. */
export type Target =
  | { readonly kind: 'max-ratio'; readonly value: number }
  | { readonly kind: 'min-ratio'; readonly value: number }
  | { readonly kind: 'max-value'; readonly value: number }
  | { readonly kind: 'info' };

export interface Figure {
  readonly id: string;
  readonly title: string;
  /** What is measured, and what it is measured against. */
  readonly subject: string;
  readonly floor: string;
  readonly unit: string;
  readonly subjectValue: Stats;
  readonly floorValue: Stats;
  /** subject / floor, or for rates floor / subject, whichever the title says. */
  readonly ratio: number;
  readonly target: Target;
  readonly note?: string | undefined;
}

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

/** `undefined` for info figures. */
export function isMet(figure: Figure): boolean | undefined {
  const { target } = figure;
  switch (target.kind) {
    case 'max-ratio':
      return figure.ratio <= target.value;
    case 'min-ratio':
      return figure.ratio >= target.value;
    case 'max-value':
      return figure.subjectValue.median <= target.value;
    case 'info':
      return undefined;
  }
}
