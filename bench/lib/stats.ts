// Summary statistics for repeated measurements. Pure.

export interface Summary {
  n: number;
  median: number;
  min: number;
  max: number;
}

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Median, min and max of the defined values; undefined when there are none. */
export function summarize(values: (number | undefined)[]): Summary | undefined {
  const v = values.filter((x): x is number => x !== undefined && Number.isFinite(x));
  if (!v.length) return undefined;
  return { n: v.length, median: median(v), min: Math.min(...v), max: Math.max(...v) };
}

/** "1.23 s (0.98–1.50)" for milliseconds; "n/a" when there is no value. */
export function fmtSeconds(s: Summary | undefined, digits = 2): string {
  if (!s) return 'n/a';
  const f = (ms: number) => (ms / 1000).toFixed(digits);
  return s.n > 1 ? `${f(s.median)} s (${f(s.min)}–${f(s.max)})` : `${f(s.median)} s`;
}

/** "1.23 (0.98–1.50)" for plain numbers. */
export function fmtNumber(s: Summary | undefined, digits = 2): string {
  if (!s) return 'n/a';
  const f = (x: number) => x.toFixed(digits);
  return s.n > 1 ? `${f(s.median)} (${f(s.min)}–${f(s.max)})` : f(s.median);
}
