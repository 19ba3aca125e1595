// Decisions about the NodePool's capacity: which NodeClaims and Nodes belong to this run,
// where they are on their way (Launched -> Registered -> Initialized), and whether they hold
// enough GPUs for the desired replicas.
import type * as k8s from '@kubernetes/client-node';
import { condition, isTrue, iso, type WithConditions } from './conditions.js';
import { gpusIn } from './quantity.js';

export const NODEPOOL_LABEL = 'karpenter.sh/nodepool';
export const INSTANCE_TYPE_LABEL = 'node.kubernetes.io/instance-type';
export const NODECLAIM_STAGES = ['Launched', 'Registered', 'Initialized'] as const;

/** A karpenter.sh/v1 NodeClaim, as far as the checks read it. */
export interface NodeClaim extends k8s.KubernetesObject {
  spec?: { nodeClassRef?: { name?: string } };
  status?: {
    nodeName?: string;
    providerID?: string;
    capacity?: Record<string, string>;
    allocatable?: Record<string, string>;
    conditions?: { type: string; status: string; reason?: string; message?: string; lastTransitionTime?: string }[];
  };
}

export interface RunIdentity {
  pool: string;
  runLabel: { key: string; value: string };
  /** Claims of the pool without the run label count as this run's when created at or after this time (the run's Deployment). */
  since?: string;
  /**
   * The run created the NodePool, so a run label on its claims is this run's or another's. On a
   * pool that existed (another run's kept pool, the cluster's own) the label names whoever made
   * the pool: claims then count by time.
   */
  poolIsRuns?: boolean;
  /**
   * NodeClaims (names) of the run that are not the scale-out's: the baseline the n-plus-one
   * scenario made for itself. Provision and consolidation leave them out; cleanup does not.
   */
  exclude?: readonly string[];
}

/**
 * Whether a NodeClaim is this run's: of the pool, and carrying this run's label, or (when the
 * NodePool template does not set the label) created since the run's workload appeared; never one
 * of `exclude` (the baseline the run made). Pure.
 */
export function isRunNodeClaim(nc: k8s.KubernetesObject, id: RunIdentity): boolean {
  const labels = nc.metadata?.labels ?? {};
  if (labels[NODEPOOL_LABEL] !== id.pool) return false;
  if (id.exclude?.includes(nc.metadata?.name ?? '')) return false;
  const run = labels[id.runLabel.key];
  if (run === id.runLabel.value) return true;
  if (run !== undefined && id.poolIsRuns !== false) return false;
  const created = iso(nc.metadata?.creationTimestamp);
  return id.since !== undefined && created !== undefined && created >= id.since;
}

export const isPoolNode = (n: k8s.V1Node, pool: string): boolean => n.metadata?.labels?.[NODEPOOL_LABEL] === pool;

export const isNodeReady = (n: k8s.V1Node): boolean => isTrue(n as WithConditions, 'Ready');

/** The furthest stage of the Launched -> Registered -> Initialized chain a NodeClaim has reached. */
export function claimStage(nc: NodeClaim): string {
  let reached = 'Created';
  for (const s of NODECLAIM_STAGES) if (isTrue(nc as WithConditions, s)) reached = s;
  return reached;
}

export interface ProvisionVerdict {
  ok: boolean;
  claims: number;
  initialized: number;
  claimGpus: number;
  neededGpus: number;
  detail: string;
}

/**
 * All of this run's NodeClaims Initialized, at least one, and their GPUs (with those already in
 * the pool before the run) enough for every desired replica. Pure.
 */
export function evaluateClaims(claims: NodeClaim[], neededGpus: number, baselineGpus: number): ProvisionVerdict {
  const live = claims.filter((c) => !c.metadata?.deletionTimestamp);
  const initialized = live.filter((c) => isTrue(c as WithConditions, 'Initialized'));
  const claimGpus = initialized.reduce((s, c) => s + gpusIn(c.status?.allocatable ?? c.status?.capacity), 0);
  const byStage: Record<string, number> = {};
  for (const c of live) byStage[claimStage(c)] = (byStage[claimStage(c)] ?? 0) + 1;
  const stages =
    Object.entries(byStage)
      .map(([s, n]) => `${n} ${s}`)
      .join(', ') || 'none';
  const ok = live.length > 0 && initialized.length === live.length && claimGpus + baselineGpus >= neededGpus;
  return {
    ok,
    claims: live.length,
    initialized: initialized.length,
    claimGpus,
    neededGpus,
    detail: `${live.length} NodeClaim(s) of this run (${stages}); ${claimGpus} GPU(s) initialized + ${baselineGpus} in the pool before, ${neededGpus} needed`,
  };
}

/** GPUs the desired replicas need. */
export const neededGpus = (replicas: number, gpusPerPod: number): number => replicas * gpusPerPod;

/** The earliest or latest time among objects, with the object's name (for timeline marks). Pure. */
export function extremeTime<T>(
  objs: T[],
  get: (o: T) => string | Date | undefined,
  name: (o: T) => string,
  which: 'min' | 'max',
): { at: string; name: string } | undefined {
  let best: { at: string; name: string } | undefined;
  for (const o of objs) {
    const at = iso(get(o));
    if (!at) continue;
    if (!best || (which === 'min' ? at < best.at : at > best.at)) best = { at, name: name(o) };
  }
  return best;
}

export const conditionTime = (type: string) => (o: unknown) => condition(o as WithConditions, type)?.lastTransitionTime;

/**
 * The run's NodeClaims split by the HPA's scale-out decision: those created before it hold the
 * min-replicas pods (made as soon as the workload appeared), the rest are the scale-out's.
 * Object timestamps have whole seconds: a claim in the decision's own second counts as the
 * scale-out's. Without a decision (pending-pods scenario) every claim is the scale-out's. Pure.
 */
export function claimsByDecision<T extends k8s.KubernetesObject>(claims: T[], decidedAt?: string): { forMinReplicas: T[]; forScaleOut: T[] } {
  const decided = decidedAt ? Date.parse(decidedAt) : NaN;
  const early = (c: T) => !Number.isNaN(decided) && Date.parse(iso(c.metadata?.creationTimestamp) ?? '') < decided;
  return { forMinReplicas: claims.filter(early), forScaleOut: claims.filter((c) => !early(c)) };
}

/** Nodes of the pool still present beyond the baseline, and this run's claims not yet gone. Pure. */
export function consolidationState(poolNodes: number, baseline: number, runClaims: number): { ok: boolean; detail: string } {
  return {
    ok: poolNodes <= baseline && runClaims === 0,
    detail: `${poolNodes} node(s) in the pool (baseline ${baseline}), ${runClaims} NodeClaim(s) of this run left`,
  };
}
