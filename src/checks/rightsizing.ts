import type { InstanceTypeSpec } from '../types.js';
import { gpusIn } from './quantity.js';

/** The lowest available offering price of an instance type (undefined when it has none). */
export function priceOf(t: InstanceTypeSpec | undefined): number | undefined {
  const prices = (t?.offerings ?? []).filter((o) => o.Available).map((o) => o.Price);
  return prices.length ? Math.min(...prices) : undefined;
}

/** The cheapest instance type with at least `gpus` GPUs, or undefined. Pure. */
export function cheapestFit(types: InstanceTypeSpec[], gpus: number): { name: string; price: number } | undefined {
  let best: { name: string; price: number } | undefined;
  for (const t of types) {
    const price = priceOf(t);
    if (price === undefined || gpusIn(t.resources) < gpus) continue;
    if (!best || price < best.price) best = { name: t.name, price };
  }
  return best;
}

export interface NodeSizing {
  node: string;
  instanceType: string;
  gpus: number;
  price?: number;
  /** GPUs the node must hold: its pods of this run x gpus-per-pod (at least one pod's worth). */
  requiredGpus: number;
  cheapestFit?: string;
  cheapestPrice?: number;
  rightSized: boolean;
}

/** Whether Karpenter chose, for one node, the cheapest type that holds what it runs. Pure. */
export function sizeNode(types: InstanceTypeSpec[], node: string, instanceType: string, gpus: number, podsOnNode: number, gpusPerPod: number): NodeSizing {
  const requiredGpus = Math.max(1, podsOnNode) * gpusPerPod;
  const price = priceOf(types.find((t) => t.name === instanceType));
  const fit = cheapestFit(types, requiredGpus);
  const rightSized = price !== undefined && fit !== undefined && price <= fit.price + 1e-9;
  return { node, instanceType, gpus, price, requiredGpus, cheapestFit: fit?.name, cheapestPrice: fit?.price, rightSized };
}
