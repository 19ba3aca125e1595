import type * as k8s from '@kubernetes/client-node';
import type { Config, NodePoolSpec, RunState } from '../types.js';
import { NODEPOOL_LABEL } from './capacity.js';
import { KARPENTER_MODE_ANNOTATION } from './liveness.js';

export const WORKLOAD_NAME = 'gpu-workload';
export const WORKLOAD_SELECTOR = `app.kubernetes.io/name=${WORKLOAD_NAME}`;

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export interface Taint {
  key: string;
  value?: string;
  effect: string;
}
export interface Toleration {
  key?: string;
  operator?: string;
  value?: string;
  effect?: string;
}

const taintsAt = (v: unknown): Taint[] =>
  Array.isArray(v)
    ? v.filter((t): t is Taint => typeof t === 'object' && t !== null && typeof (t as Taint).key === 'string' && typeof (t as Taint).effect === 'string')
    : [];

/** The taints the NodePool puts on its nodes: spec.template.spec.taints, then startupTaints. Pure. */
export function nodePoolTaints(pool: Pick<NodePoolSpec, 'manifests'>): { taints: Taint[]; startupTaints: Taint[] } {
  const np = pool.manifests.find((m) => m.kind === 'NodePool') as Obj | undefined;
  const spec = np?.spec?.template?.spec;
  return { taints: taintsAt(spec?.taints), startupTaints: taintsAt(spec?.startupTaints) };
}

/** Whether a toleration tolerates a taint, as the scheduler decides it (empty key with Exists tolerates all). Pure. */
export function tolerates(t: Toleration, taint: Taint): boolean {
  if (t.effect && t.effect !== taint.effect) return false;
  if (!t.key) return t.operator === 'Exists';
  if (t.key !== taint.key) return false;
  return t.operator === 'Exists' || (t.value ?? '') === (taint.value ?? '');
}

/** The taints of a node that keep a pod with these tolerations off it (NoSchedule, NoExecute; PreferNoSchedule does not). Pure. */
export function untoleratedTaints(tolerations: Toleration[], taints: Taint[]): Taint[] {
  return taints.filter((t) => t.effect !== 'PreferNoSchedule' && !tolerations.some((tol) => tolerates(tol, t)));
}

/** The toleration that matches exactly one taint (Equal on its value, Exists when it has none). Pure. */
export const tolerationFor = (taint: Taint): Toleration =>
  taint.value ? { key: taint.key, operator: 'Equal', value: taint.value, effect: taint.effect } : { key: taint.key, operator: 'Exists', effect: taint.effect };

export const formatTaint = (t: Taint): string => `${t.key}${t.value ? `=${t.value}` : ''}:${t.effect}`;
export const formatToleration = (t: Toleration): string =>
  `${t.key ?? '*'}${t.operator === 'Exists' ? ' Exists' : `=${t.value ?? ''}`}${t.effect ? `:${t.effect}` : ''}`;

/**
 * The tolerations the workload needs on top of `existing` to land on the NodePool's nodes: one
 * per template taint and startup taint not yet tolerated. Pure.
 */
export function poolTolerations(pool: Pick<NodePoolSpec, 'manifests'>, existing: Toleration[] = []): Toleration[] {
  const { taints, startupTaints } = nodePoolTaints(pool);
  const out: Toleration[] = [];
  for (const taint of [...taints, ...startupTaints]) {
    if ([...existing, ...out].some((t) => tolerates(t, taint))) continue;
    out.push(tolerationFor(taint));
  }
  return out;
}

/** Replicas the Deployment starts with: minReplicas under an HPA, straight to max without one, one trigger pod in n-plus-one. */
export const initialReplicas = (config: Config): number =>
  config.scenario === 'n-plus-one' ? 1 : config.scenario === 'pending-pods' ? config.maxReplicas : config.minReplicas;

/**
 * The run's Namespace, labelled for the run; the mode tells other runs whether this one started
 * a Karpenter of its own. Made just before the workload stage (it holds the run's
 * Lease, src/stages/heartbeat.ts) and applied again, unchanged, with the workload. Pure.
 */
export function runNamespace(config: Pick<Config, 'karpenterMode'>, run: Pick<RunState, 'namespace' | 'runLabel'>): k8s.KubernetesObject {
  return {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: {
      name: run.namespace,
      labels: { [run.runLabel.key]: run.runLabel.value },
      annotations: { [KARPENTER_MODE_ANNOTATION]: config.karpenterMode },
    },
  };
}

/**
 * The run's Namespace, Deployment and (metric scenario) HPA from the shipped templates, with the
 * run's name, labels, GPU request = limit, NodePool nodeSelector, tolerations of the NodePool's
 * template taints and startup taints, and metric target. Pure: the
 * templates are deep-copied, never changed.
 */
export function renderWorkload(
  templates: { deployment: Obj; hpa: Obj },
  config: Config,
  run: Pick<RunState, 'namespace' | 'runLabel'>,
): k8s.KubernetesObject[] {
  const labels = { [run.runLabel.key]: run.runLabel.value };
  const ns = runNamespace(config, run);
  const d = structuredClone(templates.deployment);
  d.metadata = { ...d.metadata, name: WORKLOAD_NAME, namespace: run.namespace, labels: { ...d.metadata?.labels, ...labels } };
  d.spec.replicas = initialReplicas(config);
  d.spec.template.metadata.labels = { ...d.spec.template.metadata.labels, ...labels };
  const pod = d.spec.template.spec;
  // The pods follow the user's NodePool: only its nodes (selector), whatever taints it sets on them.
  pod.nodeSelector = { ...pod.nodeSelector, [NODEPOOL_LABEL]: config.nodePool.name };
  const tolerations: Toleration[] = pod.tolerations ?? [];
  pod.tolerations = [...tolerations, ...poolTolerations(config.nodePool, tolerations)];
  for (const c of pod.containers) {
    const gpus = String(config.gpusPerPod);
    c.resources = {
      ...c.resources,
      requests: { ...c.resources?.requests, 'nvidia.com/gpu': gpus },
      limits: { ...c.resources?.limits, 'nvidia.com/gpu': gpus },
    };
  }
  const out: k8s.KubernetesObject[] = [ns, d];
  if (config.scenario === 'metric') {
    const h = structuredClone(templates.hpa);
    h.metadata = { ...h.metadata, name: WORKLOAD_NAME, namespace: run.namespace, labels: { ...h.metadata?.labels, ...labels } };
    h.spec.scaleTargetRef = { ...h.spec.scaleTargetRef, name: WORKLOAD_NAME };
    h.spec.minReplicas = config.minReplicas;
    h.spec.maxReplicas = config.maxReplicas;
    h.spec.metrics = [
      { type: 'External', external: { metric: { name: config.metricName }, target: { type: 'AverageValue', averageValue: config.metricTarget } } },
    ];
    out.push(h);
  }
  return out;
}

/** Replicas the later stages wait for: what the HPA decided, else what the Deployment was scaled to. */
export const desiredReplicas = (config: Config, run: Pick<RunState, 'outputs'>): number => run.outputs.hpaDesiredReplicas ?? initialReplicas(config);
