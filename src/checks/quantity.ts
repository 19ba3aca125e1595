// Kubernetes resource quantities ("500m", "4", "16Gi", "1e3") as numbers, for comparisons only.

const SUFFIX: Record<string, number> = {
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  '': 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

/** Parses a quantity; undefined when it is not one. */
export function parseQuantity(q: string | number | undefined): number | undefined {
  if (q === undefined) return undefined;
  if (typeof q === 'number') return q;
  const m = /^([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)(n|u|m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/.exec(q.trim());
  if (!m) return undefined;
  return Number(m[1]) * SUFFIX[m[2] ?? '']!;
}

/** GPUs (nvidia.com/gpu) in a resource list such as status.allocatable; 0 when absent. */
export function gpusIn(resources: Record<string, string> | undefined): number {
  return parseQuantity(resources?.['nvidia.com/gpu']) ?? 0;
}
