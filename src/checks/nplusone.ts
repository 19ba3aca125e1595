// The n-plus-one scenario's decisions (the Kubernetes AI conformance sequence N -> N+1 -> N):
// the fill Deployment that makes and holds the N baseline nodes, which nodes form the baseline,
// the one-pod trigger, and what a pool of multi-GPU nodes does to the sequence. Pure.
import type * as k8s from '@kubernetes/client-node';
import type { Config, InstanceTypeSpec, RunState } from '../types.js';
import { nodeIdOf, type NodeId } from './baseline.js';
import { INSTANCE_TYPE_LABEL, isNodeReady, NODEPOOL_LABEL } from './capacity.js';
import { gpusIn } from './quantity.js';
import { allowedShapes, nodePoolRequirements } from './rightsizing.js';
import { renderWorkload, WORKLOAD_NAME } from './workload.js';

/** The Deployment that fills the baseline: one pod per node (its name must not start with `gpu-workload-`: the trigger's pods are told by that prefix). */
export const FILL_NAME = 'gpu-baseline';
export const FILL_SELECTOR = `app.kubernetes.io/name=${FILL_NAME}`;
/** Karpenter never disrupts (consolidates, drifts, expires) a node with this annotation "true". */
export const DO_NOT_DISRUPT = 'karpenter.sh/do-not-disrupt';
/** Put with DO_NOT_DISRUPT on each node a run pins, valued its run id: a later run finds the pins of a run that died before its cleanup. */
export const PINNED_BY_LABEL = 'gpu-autoscaling-conformance/pinned-by';
export const HOSTNAME_LABEL = 'kubernetes.io/hostname';
export const ONE_GPU_PER_NODE = 'the conformance draft requires one GPU per node';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/**
 * The objects of an n-plus-one run: the Namespace, the fill Deployment (N replicas of the trigger's
 * pod: same GPUs, nodeSelector and tolerations, and a required anti-affinity among themselves on
 * kubernetes.io/hostname, so N pods hold N nodes), and the trigger (the workload Deployment, one
 * replica), made only once the baseline is pinned and steady. Pure.
 */
export function nPlusOneObjects(
  templates: { deployment: Obj; hpa: Obj },
  config: Config,
  run: Pick<RunState, 'namespace' | 'runLabel'>,
): { namespace: k8s.KubernetesObject; fill: k8s.KubernetesObject; trigger: k8s.KubernetesObject } {
  const [namespace, trigger] = renderWorkload(templates, { ...config, scenario: 'n-plus-one' }, run) as [k8s.KubernetesObject, Obj];
  const fill = structuredClone(trigger);
  const name = { 'app.kubernetes.io/name': FILL_NAME };
  fill.metadata = { ...fill.metadata, name: FILL_NAME, labels: { ...fill.metadata.labels, ...name } };
  fill.spec.replicas = config.baselineNodes;
  fill.spec.selector = { matchLabels: { ...fill.spec.selector?.matchLabels, ...name } };
  fill.spec.template.metadata.labels = { ...fill.spec.template.metadata.labels, ...name };
  fill.spec.template.spec.affinity = {
    ...fill.spec.template.spec.affinity,
    podAntiAffinity: {
      requiredDuringSchedulingIgnoredDuringExecution: [
        { labelSelector: { matchLabels: { ...name, [run.runLabel.key]: run.runLabel.value } }, topologyKey: HOSTNAME_LABEL },
      ],
    },
  };
  trigger.spec.replicas = 1;
  return { namespace, fill, trigger };
}

export interface FillPlacement {
  /** N fill pods Running, on N distinct nodes. */
  ok: boolean;
  /** The nodes the Running fill pods are on, by name. */
  nodes: string[];
  detail: string;
}

/** Where the fill pods run: done when `n` of them are Running on `n` distinct nodes. Pure. */
export function fillPlacement(pods: Iterable<k8s.V1Pod>, n: number): FillPlacement {
  const live = [...pods].filter((p) => !p.metadata?.deletionTimestamp);
  const running = live.filter((p) => p.status?.phase === 'Running' && p.spec?.nodeName);
  const nodes = [...new Set(running.map((p) => p.spec!.nodeName!))].sort();
  const pending = live.length - running.length;
  return {
    ok: running.length >= n && nodes.length === n,
    nodes,
    detail: `${running.length}/${n} fill pod(s) Running on ${nodes.length} node(s)${nodes.length ? ` (${nodes.join(', ')})` : ''}${pending ? `, ${pending} not yet` : ''}`,
  };
}

export interface BaselineNodes {
  /** Every fill node present, of the pool, Ready and not being deleted. */
  ok: boolean;
  /** The baseline: the nodes found before the run (preflight), then the fill nodes, by UID once each. */
  ids: NodeId[];
  detail: string;
}

/**
 * Which nodes form the baseline: the fill nodes, once each is a Ready node of the pool, joined
 * to the pool's nodes found before the run (they stay in the baseline: the run does not remove
 * them, and consolidation must find them). Pure.
 */
export function baselineFromFill(fillNodes: string[], nodes: Iterable<k8s.V1Node>, pool: string, found: NodeId[] = []): BaselineNodes {
  const byName = new Map([...nodes].map((n) => [n.metadata?.name ?? '', n]));
  const problems: string[] = [];
  const fill: NodeId[] = [];
  for (const name of fillNodes) {
    const n = byName.get(name);
    if (!n) problems.push(`${name} not found`);
    else if (n.metadata?.labels?.[NODEPOOL_LABEL] !== pool) problems.push(`${name} is not a node of NodePool ${pool}`);
    else if (n.metadata?.deletionTimestamp) problems.push(`${name} being deleted`);
    else if (!isNodeReady(n)) problems.push(`${name} not Ready`);
    else fill.push(nodeIdOf(n));
  }
  const ids = [...found];
  for (const f of fill) if (!ids.some((i) => i.uid === f.uid)) ids.push(f);
  const ok = problems.length === 0 && fillNodes.length > 0;
  const before = found.length ? `; ${found.length} node(s) of the pool found before the run stay in it` : '';
  return {
    ok,
    ids,
    detail: `${fill.length}/${fillNodes.length} fill node(s) Ready in NodePool ${pool}${problems.length ? ` (${problems.join('; ')})` : ''}${before}`,
  };
}

/**
 * The run's NodeClaims behind the baseline's fill nodes: each fill node the pool did not have
 * before the run (`found`) is matched to one of the run's claims by provider ID, else by the
 * claim's nodeName (set a little later, at registration). `ok` once every such node has its
 * claim, so none of the baseline's is later taken for the scale-out's. Pure.
 */
export function baselineClaims(
  runClaims: { metadata?: { name?: string }; status?: { nodeName?: string; providerID?: string } }[],
  fillNodes: k8s.V1Node[],
  found: NodeId[] = [],
): { ok: boolean; names: string[]; missing: string[] } {
  const names: string[] = [];
  const missing: string[] = [];
  for (const n of fillNodes) {
    if (found.some((f) => f.uid === n.metadata?.uid)) continue;
    const providerID = n.spec?.providerID;
    const c = runClaims.find((x) => (providerID && x.status?.providerID === providerID) || x.status?.nodeName === n.metadata?.name);
    if (c?.metadata?.name) names.push(c.metadata.name);
    else missing.push(n.metadata?.name ?? '?');
  }
  return { ok: missing.length === 0, names: [...new Set(names)].sort(), missing };
}

/** The instance types the NodePool allows that give more than one GPU per node, with their GPUs. Pure. */
export function multiGpuTypes(types: InstanceTypeSpec[], nodePool: Record<string, unknown>[]): { name: string; gpus: number }[] {
  return allowedShapes(types, nodePoolRequirements(nodePool))
    .shapes.filter((s) => s.gpus > 1)
    .map((s) => ({ name: s.name, gpus: s.gpus }))
    .sort((a, b) => a.gpus - b.gpus || a.name.localeCompare(b.name));
}

/** "p5.48xlarge (8 GPUs)", for the warning and the failures. Pure. */
export const formatGpuTypes = (types: { name: string; gpus: number }[]): string => types.map((t) => `${t.name} (${t.gpus} GPUs)`).join(', ');

/** The warning for a pool whose types hold more than one GPU per node, or undefined. Pure. */
export function multiGpuWarning(pool: string, types: { name: string; gpus: number }[]): string | undefined {
  if (!types.length) return undefined;
  return `NodePool ${pool} allows instance type(s) with more than one GPU per node: ${formatGpuTypes(types)}; ${ONE_GPU_PER_NODE} (restrict the NodePool's node.kubernetes.io/instance-type requirement to 1-GPU types): a trigger that fits beside a fill pod on a baseline node adds no node, and the run fails naming it`;
}

/**
 * The trigger pod placed on a baseline node instead of a new one (the baseline had room: a
 * multi-GPU node), described for the failure; undefined when it is not. Pure.
 */
export function triggerOnBaseline(
  pods: Iterable<k8s.V1Pod>,
  baseline: NodeId[],
  nodes: Iterable<k8s.V1Node>,
  multi: { name: string; gpus: number }[],
): string | undefined {
  const names = new Set(baseline.map((b) => b.name));
  const byName = new Map([...nodes].map((n) => [n.metadata?.name ?? '', n]));
  const on = [...pods].filter((p) => !p.metadata?.deletionTimestamp && p.spec?.nodeName && names.has(p.spec.nodeName));
  if (!on.length) return undefined;
  const where = on.map((p) => {
    const n = byName.get(p.spec!.nodeName!);
    const type = n?.metadata?.labels?.[INSTANCE_TYPE_LABEL];
    return `${p.metadata?.name} on baseline node ${p.spec!.nodeName}${n ? ` (${type ?? 'instance type unknown'}, ${gpusIn(n.status?.allocatable)} GPU(s))` : ''}`;
  });
  return `the trigger ${WORKLOAD_NAME} landed on a baseline node instead of a new one: ${where.join('; ')}; the baseline nodes had GPUs to spare, so N+1 was never needed${multi.length ? `. The NodePool allows ${formatGpuTypes(multi)}: ${ONE_GPU_PER_NODE}` : ''}`;
}
