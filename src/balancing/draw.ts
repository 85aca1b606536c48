/**
 * An index in `[0, length)` from a random source. A source that strays outside [0, 1) (a
 * hand-written test double returning 1 or NaN) maps to index 0 rather than to no instance at all.
 */
export function drawIndex(random: () => number, length: number): number {
  const index = Math.floor(random() * length);
  return index >= 0 && index < length ? index : 0;
}
