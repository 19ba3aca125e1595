// Right-sizing, two questions. Per node: is its instance type the cheapest single type that
// holds the pods it runs? For the whole placement: is there a cheaper set of nodes, from the
// instance types the NodePool allows, that holds the same pods? Karpenter packs a batch of
// pending pods into as few NodeClaims as it can, so the first answer is "yes" while three
// 1-GPU pods sit on a $98.32/h p5.48xlarge that three $1.006/h g5.xlarge would hold: the
// evidence must say both (issue 14, point 4). Pure functions.
import type { InstanceTypeSpec } from '../types.js';
import { gpusIn, parseQuantity } from './quantity.js';

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

// ---------------------------------------------------------------------------------------------
// The NodePool's instance types

/** One NodePool requirement (spec.template.spec.requirements). */
export interface Requirement {
  key: string;
  operator: string;
  values?: string[];
}

/** An instance type as the placement search sees it: its price under the NodePool, and its room. */
export interface NodeShape {
  name: string;
  price: number;
  gpus: number;
  cpu: number;
  memory: number;
  pods: number;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The requirements of the NodePool in a parsed nodepool file (empty when it has none). */
export function nodePoolRequirements(manifests: Record<string, unknown>[]): Requirement[] {
  const np = manifests.find((m) => m.kind === 'NodePool');
  const spec = isObj(np?.spec) && isObj(np.spec.template) && isObj(np.spec.template.spec) ? np.spec.template.spec : undefined;
  const reqs = spec?.requirements;
  return Array.isArray(reqs) ? reqs.filter((r): r is Requirement => isObj(r) && typeof r.key === 'string' && typeof r.operator === 'string') : [];
}

/** Whether a label with these values (one for most keys, several for a type's operating systems) satisfies a requirement. */
export function satisfies(values: string[], r: Requirement): boolean {
  const wanted = r.values ?? [];
  switch (r.operator) {
    case 'In':
      return values.some((v) => wanted.includes(v));
    case 'NotIn':
      return values.some((v) => !wanted.includes(v));
    case 'Exists':
      return values.length > 0;
    case 'DoesNotExist':
      return values.length === 0;
    case 'Gt':
      return values.some((v) => Number(v) > Number(wanted[0]));
    case 'Lt':
      return values.some((v) => Number(v) < Number(wanted[0]));
    default:
      return true;
  }
}

/** Labels every instance type carries, from the fields of the instance types file. */
const TYPE_LABELS: Record<string, (t: InstanceTypeSpec) => string[]> = {
  'node.kubernetes.io/instance-type': (t) => [t.name],
  'kubernetes.io/arch': (t) => [t.architecture],
  'kubernetes.io/os': (t) => t.operatingSystems,
};

export interface AllowedTypes {
  shapes: NodeShape[];
  /** Requirements the file cannot answer (labels the provider derives, e.g. an instance family): not applied. */
  unapplied: string[];
}

/**
 * The instance types the NodePool's requirements allow, each priced at its cheapest available
 * offering that the requirements allow (capacity type, zone). A requirement on a label neither
 * the type nor its offerings carry cannot be decided from the file: it is listed, not applied.
 */
export function allowedShapes(types: InstanceTypeSpec[], requirements: Requirement[]): AllowedTypes {
  const offeringKeys = new Set(types.flatMap((t) => t.offerings.flatMap((o) => o.Requirements.map((r) => r.key))));
  const unapplied = requirements
    .filter((r) => !TYPE_LABELS[r.key] && !offeringKeys.has(r.key))
    .map((r) => `${r.key} ${r.operator} ${(r.values ?? []).join(',')}`.trim());
  const shapes: NodeShape[] = [];
  for (const t of types) {
    if (!requirements.every((r) => !TYPE_LABELS[r.key] || satisfies(TYPE_LABELS[r.key]!(t), r))) continue;
    const prices = t.offerings
      .filter((o) => o.Available && requirements.every((r) => !offeringKeys.has(r.key) || satisfies(offeringValues(o, r.key), r)))
      .map((o) => o.Price);
    if (!prices.length) continue;
    shapes.push({ name: t.name, price: Math.min(...prices), ...roomOf(t.resources) });
  }
  return { shapes, unapplied };
}

const offeringValues = (o: InstanceTypeSpec['offerings'][number], key: string): string[] =>
  o.Requirements.filter((r) => r.key === key && r.operator === 'In').flatMap((r) => r.values);

/** GPUs, cores, bytes and pod slots of a resource list; a missing pods count means no limit. */
function roomOf(resources: Record<string, string> | undefined): Omit<NodeShape, 'name' | 'price'> {
  return {
    gpus: gpusIn(resources),
    cpu: parseQuantity(resources?.cpu) ?? 0,
    memory: parseQuantity(resources?.memory) ?? 0,
    pods: parseQuantity(resources?.pods) ?? Number.MAX_SAFE_INTEGER,
  };
}

// ---------------------------------------------------------------------------------------------
// The cheapest placement

/** What one pod requests (GPUs, cores, bytes). */
export interface PodRequest {
  gpus: number;
  cpu: number;
  memory: number;
}

/** A pod as the API returns it, reduced to what its requests need. */
export interface PodLike {
  spec?: { containers?: { resources?: { requests?: Record<string, string> } }[] };
}

/** The sum of a pod's container requests (init containers run before and do not add to it). */
export function podRequest(pod: PodLike): PodRequest {
  const sum = (key: string) => (pod.spec?.containers ?? []).reduce((s, c) => s + (parseQuantity(c.resources?.requests?.[key]) ?? 0), 0);
  return { gpus: sum('nvidia.com/gpu'), cpu: sum('cpu'), memory: sum('memory') };
}

export interface Placement {
  /** $/h of all the nodes. */
  cost: number;
  gpus: number;
  /** Nodes by type, cheapest type first: [{ type: 'g5.xlarge', count: 3 }]. */
  nodes: { type: string; count: number }[];
  /** False when the search hit its step limit: the placement is the best found, perhaps not the cheapest. */
  exact: boolean;
}

interface Bin {
  shape: NodeShape;
  gpus: number;
  cpu: number;
  memory: number;
  pods: number;
}

const fits = (b: Omit<Bin, 'shape'>, p: PodRequest) => b.pods >= 1 && b.gpus >= p.gpus && b.cpu >= p.cpu - 1e-9 && b.memory >= p.memory;
const take = (b: Bin, p: PodRequest): Bin => ({ ...b, gpus: b.gpus - p.gpus, cpu: b.cpu - p.cpu, memory: b.memory - p.memory, pods: b.pods - 1 });
const sameRequest = (a: PodRequest | undefined, b: PodRequest) => !!a && a.gpus === b.gpus && a.cpu === b.cpu && a.memory === b.memory;

/**
 * The cheapest multiset of nodes from `shapes` that holds every pod. Pods of one shape (the
 * run's, from one Deployment) are solved exactly by sameShapePlacement; mixed pods by branch
 * and bound over the pods, largest first, each into an open node or a new one of each type. Identical pods go into
 * nodes in order (no permutations of the same packing), open nodes with the same type and room
 * count once, and a branch stops once a lower bound (what it has plus the cheapest price per
 * GPU, per core and per byte of what is left) reaches the best so far; `maxSteps` bounds it
 * (then `exact` is false). `maxGpus` is the NodePool's nvidia.com/gpu limit. Undefined when no
 * placement exists.
 */
export function cheapestPlacement(pods: PodRequest[], shapes: NodeShape[], opts: { maxGpus?: number; maxSteps?: number } = {}): Placement | undefined {
  // The run's pods come from one Deployment: one shape, solved exactly in O(pods × types).
  if (pods.length > 0 && pods.every((p) => sameRequest(pods[0], p))) {
    const one = sameShapePlacement(pods[0]!, pods.length, shapes);
    if (!one || one.gpus <= (opts.maxGpus ?? Infinity)) return one;
    // Over the NodePool's GPU limit: the search below honours the limit.
  }
  return searchPlacement(pods, undominated(shapes), opts);
}

/** How many pods of one shape a node of this type holds. */
function capacityFor(t: NodeShape, pod: PodRequest): number {
  const per = (room: number, need: number) => (need > 0 ? Math.floor(room / need + 1e-9) : Infinity);
  return Math.min(per(t.gpus, pod.gpus), per(t.cpu, pod.cpu), per(t.memory, pod.memory), t.pods);
}

/**
 * The cheapest nodes for `count` identical pods: cheapest[k] = min over types of price +
 * cheapest[k - what one node holds], the covering form of the unbounded knapsack. Exact; ties
 * go to fewer GPUs. Undefined when no type holds one pod.
 */
export function sameShapePlacement(pod: PodRequest, count: number, shapes: NodeShape[]): Placement | undefined {
  const fitting = shapes.map((t) => ({ t, holds: capacityFor(t, pod) })).filter((x) => x.holds >= 1);
  if (!fitting.length) return undefined;
  const best: { cost: number; gpus: number; type?: NodeShape; from: number }[] = [{ cost: 0, gpus: 0, from: 0 }];
  for (let k = 1; k <= count; k++) {
    let b: (typeof best)[number] | undefined;
    for (const { t, holds } of fitting) {
      const from = Math.max(0, k - holds);
      const cost = best[from]!.cost + t.price;
      const gpus = best[from]!.gpus + t.gpus;
      if (!b || cost < b.cost - 1e-9 || (Math.abs(cost - b.cost) <= 1e-9 && gpus < b.gpus)) b = { cost, gpus, type: t, from };
    }
    best.push(b!);
  }
  const chosen: NodeShape[] = [];
  for (let k = count; k > 0; k = best[k]!.from) chosen.push(best[k]!.type!);
  return { cost: best[count]!.cost, gpus: best[count]!.gpus, nodes: countByType(chosen), exact: true };
}

/** Types no other type beats: one at most as dear with at least as much of everything makes it redundant. */
function undominated(shapes: NodeShape[]): NodeShape[] {
  const covers = (a: NodeShape, b: NodeShape) => a.price <= b.price && a.gpus >= b.gpus && a.cpu >= b.cpu && a.memory >= b.memory && a.pods >= b.pods;
  return shapes.filter((b, i) => !shapes.some((a, j) => j !== i && covers(a, b) && (!covers(b, a) || j < i)));
}

function searchPlacement(pods: PodRequest[], shapes: NodeShape[], opts: { maxGpus?: number; maxSteps?: number }): Placement | undefined {
  const order = [...pods].sort((a, b) => b.gpus - a.gpus || b.cpu - a.cpu || b.memory - a.memory);
  const types = [...shapes].sort((a, b) => a.price - b.price);
  const perUnit = (k: 'gpus' | 'cpu' | 'memory') => Math.min(...types.filter((t) => t[k] > 0).map((t) => t.price / t[k]));
  const unit = { gpus: perUnit('gpus'), cpu: perUnit('cpu'), memory: perUnit('memory') };
  const left = (from: number, k: 'gpus' | 'cpu' | 'memory') => order.slice(from).reduce((s, p) => s + p[k], 0);
  const maxGpus = opts.maxGpus ?? Infinity;
  // About 5 µs a step: a mixed set of pods on many types gives up after ~1.5 s with the best found.
  const maxSteps = opts.maxSteps ?? 300_000;
  let steps = 0;
  let best: { cost: number; bins: Bin[] } | undefined;

  const bound = (i: number, bins: Bin[], cost: number): number => {
    const free = (k: 'gpus' | 'cpu' | 'memory') => bins.reduce((s, b) => s + b[k], 0);
    const need = (k: 'gpus' | 'cpu' | 'memory') => Math.max(0, left(i, k) - free(k)) * (Number.isFinite(unit[k]) ? unit[k] : 0);
    return cost + Math.max(need('gpus'), need('cpu'), need('memory'));
  };

  const search = (i: number, bins: Bin[], cost: number, gpus: number, firstBin: number): void => {
    if (++steps > maxSteps) return;
    if (i === order.length) {
      if (!best || cost < best.cost - 1e-9) best = { cost, bins };
      return;
    }
    if (best && bound(i, bins, cost) >= best.cost - 1e-9) return;
    const pod = order[i]!;
    // Identical pods fill nodes in order: pod i never goes before the node pod i-1 went to.
    const from = sameRequest(order[i - 1], pod) ? firstBin : 0;
    const seen = new Set<string>();
    for (let j = from; j < bins.length; j++) {
      const b = bins[j]!;
      const key = `${b.shape.name}/${b.gpus}/${b.cpu}/${b.memory}/${b.pods}`;
      if (seen.has(key) || !fits(b, pod)) continue;
      seen.add(key);
      search(
        i + 1,
        bins.map((x, k) => (k === j ? take(x, pod) : x)),
        cost,
        gpus,
        j,
      );
    }
    for (const t of types) {
      if (!fits(t, pod) || gpus + t.gpus > maxGpus) continue;
      if (best && cost + t.price >= best.cost - 1e-9) continue;
      search(i + 1, [...bins, take({ shape: t, ...t }, pod)], cost + t.price, gpus + t.gpus, bins.length);
    }
  };
  search(0, [], 0, 0, 0);
  if (!best) return undefined;
  const found = best as { cost: number; bins: Bin[] };
  return {
    cost: found.cost,
    gpus: found.bins.reduce((s, b) => s + b.shape.gpus, 0),
    nodes: countByType(found.bins.map((b) => b.shape)),
    exact: steps <= maxSteps,
  };
}

/** [{ type, count }] of a list of nodes, cheapest type first, then by name. */
function countByType(shapes: { name: string; price: number }[]): { type: string; count: number }[] {
  const counts = new Map<string, { type: string; count: number; price: number }>();
  for (const s of shapes) {
    const c = counts.get(s.name) ?? { type: s.name, count: 0, price: s.price };
    c.count++;
    counts.set(s.name, c);
  }
  return [...counts.values()].sort((a, b) => a.price - b.price || a.type.localeCompare(b.type)).map(({ type, count }) => ({ type, count }));
}

// ---------------------------------------------------------------------------------------------
// The verdict

/** A node Karpenter made that holds pods of this run. */
export interface PlacedNode {
  node: string;
  instanceType: string;
  gpus: number;
  pods: PodRequest[];
}

export interface RightSizingVerdict {
  /** Per node: the cheapest single type that holds its pods. */
  perNode: NodeSizing[];
  singleNodeCheapest: boolean;
  actual: { cost?: number; gpus: number; nodes: { type: string; count: number }[] };
  cheapest?: Placement;
  /** True when no set of nodes from the allowed types is cheaper than what Karpenter made. */
  placementCheapest: boolean | undefined;
  /** The instance types the comparison drew from, and NodePool requirements it could not apply. */
  typesConsidered: string[];
  requirementsNotApplied: string[];
  /** Both answers in one line, for the stage message, a warning or a failure. */
  sentence: string;
  ok: boolean;
}

/** What to check when require-right-sizing fails the run. */
export const RIGHT_SIZING_NEXT =
  "Karpenter packs a batch of pending pods into as few NodeClaims as it can: narrow the NodePool's instance types (requirements on node.kubernetes.io/instance-type), or set require-right-sizing: false to keep this a verdict";

const dollars = (n: number) => `$${n.toFixed(2)}/h`;
const nodesText = (nodes: { type: string; count: number }[]) => nodes.map((n) => `${n.count} × ${n.type}`).join(' + ');
const gpuText = (n: number) => `${n} GPU${n === 1 ? '' : 's'}`;

/**
 * Judges the nodes Karpenter made for this run's pods against the cheapest single type per node
 * and against the cheapest placement of the same pods on the NodePool's instance types.
 */
export function judgeRightSizing(input: {
  types: InstanceTypeSpec[];
  /** The nodepool file's documents: its requirements narrow the types, when it has any. */
  nodePool?: Record<string, unknown>[];
  nodes: PlacedNode[];
  gpusPerPod: number;
  /** The NodePool's nvidia.com/gpu limit. */
  gpuLimit?: number;
}): RightSizingVerdict {
  const { types, nodes, gpusPerPod } = input;
  const perNode = nodes.map((n) => sizeNode(types, n.node, n.instanceType, n.gpus, n.pods.length, gpusPerPod));
  const singleNodeCheapest = perNode.every((s) => s.rightSized);
  const { shapes, unapplied } = allowedShapes(types, nodePoolRequirements(input.nodePool ?? []));
  const prices = perNode.map((s) => s.price);
  const actualCost = prices.every((p): p is number => p !== undefined) ? prices.reduce((a, b) => a + b, 0) : undefined;
  const actual = {
    cost: actualCost,
    gpus: nodes.reduce((s, n) => s + n.gpus, 0),
    nodes: countByType(perNode.map((s) => ({ name: s.instanceType, price: s.price ?? Infinity }))),
  };
  const cheapest = cheapestPlacement(
    nodes.flatMap((n) => n.pods),
    shapes,
    { maxGpus: input.gpuLimit },
  );
  const placementCheapest = actualCost === undefined || !cheapest ? undefined : actualCost <= cheapest.cost + 1e-9;
  const single = `cheapest single node per NodeClaim: ${
    singleNodeCheapest
      ? 'yes'
      : `no (${perNode
          .filter((s) => !s.rightSized)
          .map((s) => `${s.node}: ${s.instanceType}${s.cheapestFit ? `, cheapest fit ${s.cheapestFit}` : ''}`)
          .join('; ')})`
  }`;
  const placement = placementText(actual, cheapest, placementCheapest, perNode);
  return {
    perNode,
    singleNodeCheapest,
    actual,
    cheapest,
    placementCheapest,
    typesConsidered: shapes.map((s) => s.name),
    requirementsNotApplied: unapplied,
    sentence: `${single}; ${placement}`,
    ok: singleNodeCheapest && placementCheapest !== false,
  };
}

function placementText(actual: RightSizingVerdict['actual'], cheapest: Placement | undefined, ok: boolean | undefined, perNode: NodeSizing[]): string {
  if (actual.cost === undefined) {
    const unknown = perNode.filter((s) => s.price === undefined).map((s) => `${s.node} (${s.instanceType})`);
    return `cheapest placement: not judged, no price for ${unknown.join(', ')} in the instance types`;
  }
  if (!cheapest) return `cheapest placement: not judged, no set of the NodePool's instance types holds these pods`;
  const bounded = cheapest.exact ? '' : ' (search bounded: the cheapest found)';
  if (ok) return `cheapest placement: yes, ${nodesText(actual.nodes)} at ${dollars(actual.cost)} (${gpuText(actual.gpus)})${bounded}`;
  return `cheapest placement: no, ${nodesText(cheapest.nodes)} at ${dollars(cheapest.cost)} against ${dollars(actual.cost)} (${nodesText(actual.nodes)}; ${gpuText(cheapest.gpus)} against ${actual.gpus})${bounded}`;
}
