import type * as k8s from '@kubernetes/client-node';
import type { Config, RunState } from '../types.js';
import { NODEPOOL_LABEL } from './capacity.js';
import { KARPENTER_MODE_ANNOTATION } from './liveness.js';

export const WORKLOAD_NAME = 'gpu-workload';
export const WORKLOAD_SELECTOR = `app.kubernetes.io/name=${WORKLOAD_NAME}`;

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Replicas the Deployment starts with: minReplicas under an HPA, straight to max without one. */
export const initialReplicas = (config: Config): number => (config.scenario === 'pending-pods' ? config.maxReplicas : config.minReplicas);

/**
 * The run's Namespace, Deployment and (metric scenario) HPA from the shipped templates, with the
 * run's name, labels, GPU request = limit, NodePool nodeSelector and metric target. Pure: the
 * templates are deep-copied, never changed.
 */
export function renderWorkload(
  templates: { deployment: Obj; hpa: Obj },
  config: Config,
  run: Pick<RunState, 'namespace' | 'runLabel'>,
): k8s.KubernetesObject[] {
  const labels = { [run.runLabel.key]: run.runLabel.value };
  // The mode tells other runs whether this one started a Karpenter of its own.
  const ns = {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name: run.namespace, labels, annotations: { [KARPENTER_MODE_ANNOTATION]: config.karpenterMode } },
  };
  const d = structuredClone(templates.deployment);
  d.metadata = { ...d.metadata, name: WORKLOAD_NAME, namespace: run.namespace, labels: { ...d.metadata?.labels, ...labels } };
  d.spec.replicas = initialReplicas(config);
  d.spec.template.metadata.labels = { ...d.spec.template.metadata.labels, ...labels };
  const pod = d.spec.template.spec;
  pod.nodeSelector = { ...pod.nodeSelector, [NODEPOOL_LABEL]: config.nodePool.name };
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
