import type { StageName } from './types.js';

/** Input defaults, as in action.yml (a unit test keeps the two in step). */
export const INPUT_DEFAULTS: Record<string, string> = {
  kubeconfig: '',
  context: '',
  'cluster-name': 'kind',
  'namespace-prefix': 'gpu-conformance',
  'lease-namespace': 'default',
  'run-id': '',
  'karpenter-mode': 'process',
  'karpenter-version': 'v1.8.0',
  'ko-version': 'v0.18.1',
  'helm-version': 'v3.19.5',
  'kwok-install': 'install',
  'kwok-chart-repository': 'https://kwok.sigs.k8s.io/charts/',
  // The chart versions of sigs.k8s.io/kwok v0.7.0 (charts/*/Chart.yaml; testbed/versions.env KWOK_VERSION), which the kind tests' chart repository serves.
  'kwok-chart-version': 'kwok=0.1.2,stage-fast=0.1.1',
  'karpenter-namespace': 'kube-system',
  'karpenter-values': '',
  'keep-installed': 'false',
  'image-repository': '',
  'tools-mirror': '',
  cache: 'true',
  scenario: 'metric',
  nodepool: '',
  'instance-types': '',
  'metric-name': 'dcgm_gpu_power_usage',
  'metric-target': '10',
  'min-replicas': '1',
  'max-replicas': '4',
  'gpus-per-pod': '1',
  'baseline-nodes': '1',
  consolidation: 'require',
  'stability-window': '',
  'require-right-sizing': 'false',
  'cleanup-stale': 'false',
  timeouts: '',
  stages: '',
  'evidence-dir': '',
  'artifact-name': 'gpu-autoscaling-conformance',
  'retention-days': '0',
  summary: 'true',
};

/**
 * The stability window when the input is empty: none in the default scenarios, so the chain's own
 * timing stays the measure (a conformance run sets 30s, as the conformance draft holds it); the
 * n-plus-one scenario is that conformance sequence, so it holds the draft's 30s unless told otherwise.
 */
export const DEFAULT_STABILITY_WINDOW_MS: Record<string, number> = { metric: 0, 'pending-pods': 0, 'n-plus-one': 30_000 };

/**
 * Stage timeouts. Each bounds the chain's intrinsic latency with room to spare: HPA sync 15 s,
 * Karpenter batching up to 10 s, consolidation validation 15 s plus consolidateAfter.
 */
export const STAGE_TIMEOUTS_MS: Record<StageName, number> = {
  preflight: 60_000,
  tools: 5 * 60_000,
  'karpenter-build': 20 * 60_000,
  'karpenter-install': 5 * 60_000,
  nodepool: 60_000,
  metric: 3 * 60_000,
  workload: 2 * 60_000,
  hpa: 3 * 60_000,
  pending: 2 * 60_000,
  provision: 5 * 60_000,
  schedule: 5 * 60_000,
  consolidation: 5 * 60_000,
  cleanup: 3 * 60_000,
};
