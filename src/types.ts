// Shared contracts between the runner, the stages and the evidence writers.
// Decisions live in pure functions elsewhere; these are only shapes.

export const STAGE_NAMES = [
  'preflight',
  'tools',
  'karpenter-build',
  'karpenter-install',
  'nodepool',
  'metric',
  'workload',
  'hpa',
  'pending',
  'provision',
  'schedule',
  'consolidation',
  'cleanup',
] as const;
export type StageName = (typeof STAGE_NAMES)[number];

export const KARPENTER_MODES = ['kind', 'registry', 'process', 'existing'] as const;
export type KarpenterMode = (typeof KARPENTER_MODES)[number];
export const SCENARIOS = ['metric', 'pending-pods', 'n-plus-one'] as const;
export type Scenario = (typeof SCENARIOS)[number];
export const CONSOLIDATION_POLICIES = ['require', 'warn', 'skip'] as const;
export type ConsolidationPolicy = (typeof CONSOLIDATION_POLICIES)[number];

/** One instance type as Karpenter's KWOK provider reads it (INSTANCE_TYPES_FILE_PATH). */
export interface InstanceTypeSpec {
  name: string;
  offerings: {
    Price: number;
    Available: boolean;
    Requirements: { key: string; operator: string; values: string[] }[];
  }[];
  architecture: string;
  operatingSystems: string[];
  resources: Record<string, string>;
}

/** A parsed `nodepool` file: one karpenter.sh/v1 NodePool and its KWOKNodeClass. */
export interface NodePoolSpec {
  name: string;
  /** nvidia.com/gpu limit of the NodePool, when it sets one. */
  gpuLimit?: number;
  /** spec.disruption.consolidateAfter as written ("10s", "Never"). */
  consolidateAfter?: string;
  /** Every document of the file, in order (NodePool, KWOKNodeClass...). */
  manifests: Record<string, unknown>[];
}

/** The validated inputs of one run. Built only by src/inputs.ts. */
export interface Config {
  kubeconfig?: string;
  context?: string;
  clusterName: string;
  namespacePrefix: string;
  /** Namespace of the runs' Leases (liveness): one every cluster has, not the run's own, so the run's namespace can go before the run ends. */
  leaseNamespace: string;
  runId: string;
  karpenterMode: KarpenterMode;
  karpenterVersion: string;
  koVersion: string;
  helmVersion: string;
  kwokInstall: 'install' | 'skip';
  kwokChartRepository: string;
  /** Chart name (KWOK_CHARTS: kwok, stage-fast) -> the pinned chart version `helm --version` installs, without a leading v. */
  kwokChartVersions: Record<string, string>;
  /** Namespace of the Karpenter chart (kind, registry). */
  karpenterNamespace: string;
  /** The user's Helm values for the Karpenter chart, merged under the values the action needs. */
  karpenterValues?: Record<string, unknown>;
  karpenterValuesFile?: string;
  /** Leave Karpenter, the KWOK controller, the CRDs and the NodePool installed for later steps (kind, registry). */
  keepInstalled: boolean;
  imageRepository?: string;
  toolsMirror?: string;
  /** Restore ko, Helm and the Karpenter build from the GitHub Actions cache and save them to it (cache input). */
  cache: boolean;
  nodePoolFile: string;
  nodePool: NodePoolSpec;
  instanceTypesFile: string;
  instanceTypes: InstanceTypeSpec[];
  scenario: Scenario;
  metricName: string;
  /** Kubernetes quantity for the HPA AverageValue target, e.g. "10" or "500m". */
  metricTarget: string;
  minReplicas: number;
  maxReplicas: number;
  gpusPerPod: number;
  /** n-plus-one: the N of the N -> N+1 -> N sequence, the baseline nodes the run fills and pins (1..32). */
  baselineNodes: number;
  consolidation: ConsolidationPolicy;
  /** How long the pool must hold steady after scale-out (provision) and after scale-in (consolidation), ms; 0: no window. */
  stabilityWindowMs: number;
  /** Fail the schedule stage when Karpenter's nodes are not the cheapest placement of the pods (else only a verdict in the evidence). Absent: false. */
  requireRightSizing?: boolean;
  cleanupStale: boolean;
  /** Milliseconds per stage. */
  timeouts: Record<StageName, number>;
  /** The stages selected to run, in chain order. */
  stages: StageName[];
  evidenceDir: string;
  artifactName: string;
  retentionDays: number;
  summary: boolean;
}

export type StageStatus = 'pass' | 'fail' | 'skip';

/** Where ko, Helm or the Karpenter build came from in this run, for results.json and the summary. */
export interface CacheFact {
  item: string;
  /** Not built or downloaded in this run (tool cache, Actions cache, PATH). */
  hit: boolean;
  source?: 'tool-cache' | 'actions-cache' | 'built' | 'downloaded' | 'path';
  /** Size of the item's directory. */
  bytes?: number;
  /** Time it took to get it from its source (restore, build, download; 0 for a tool-cache hit). */
  ms?: number;
  /** Time saved against the last measured build, when known. */
  savedMs?: number;
  bytesDownloaded?: number;
  /** The Actions cache: its key, and the save after a build or download when one was attempted. */
  actionsCache?: { key: string; saved?: boolean; saveMs?: number };
}

/**
 * The run's overall result: pass only when the stages that prove the chain ran and passed;
 * inconclusive when nothing failed but they did not all run (a `stages` subset, a skip).
 */
export const RUN_RESULTS = ['pass', 'fail', 'inconclusive'] as const;
export type RunResultValue = (typeof RUN_RESULTS)[number];

/** What the evidence says of one conformance requirement: never more than the run saw. */
export interface RequirementVerdict {
  id: 'cluster_autoscaling' | 'pod_autoscaling';
  result: 'pass' | 'fail' | 'not-checked';
  /** Why it was not checked, which stage failed, or what part was left out (e.g. scale-down with consolidation: skip). */
  reason?: string;
}

/** A piece of evidence: what was seen, and the kubectl command that shows it. */
export interface EvidenceItem {
  title: string;
  /** Equivalent command a person can run, e.g. `kubectl get nodepool gpu -o yaml`. */
  command?: string;
  /** What it showed (text; objects are YAML/JSON-serialised by the recorder). */
  output?: string;
  /** Files written into the evidence dir, relative to it. */
  files?: string[];
}

export interface StageRecord {
  name: StageName;
  status: StageStatus;
  message: string;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  evidence: EvidenceItem[];
  diagnostics: EvidenceItem[];
}

/** Points on the chain's timeline, taken from the cluster's own timestamps where possible. */
export const TIMELINE_EVENTS = [
  'metric-first-seen',
  'hpa-scale-decision',
  'hpa-settled',
  'first-pod-unschedulable',
  'min-replicas-nodeclaim-created',
  'nodeclaim-created',
  'nodeclaim-launched',
  'nodeclaim-registered',
  'nodeclaim-initialized',
  'node-ready',
  'last-pod-running',
  'workload-deleted',
  'last-node-gone',
] as const;
export type TimelineEvent = (typeof TIMELINE_EVENTS)[number];

export interface TimelineEntry {
  event: TimelineEvent;
  /** ISO time from the cluster (object timestamp, condition lastTransitionTime). */
  at: string;
  /** Where the time came from, e.g. "NodeClaim gpu-abc .metadata.creationTimestamp". */
  source: string;
  /** When the action observed it (watch event receipt), ISO. */
  observedAt?: string;
}

/** Scenario outputs the stages fill in as they learn them. */
export interface RunOutputs {
  nodesProvisioned?: number;
  podsScheduled?: number;
  hpaDesiredReplicas?: number;
}

/**
 * State shared by the stages of one run, and saved for the post step (see src/state.ts):
 * what the run created, so cleanup can undo exactly that.
 */
export interface RunState {
  runId: string;
  namespace: string;
  /** Label put on every object this run creates. */
  runLabel: { key: string; value: string };
  baselineNodes?: number;
  /**
   * The nodes of the NodePool before the run (name and UID), recorded before anything is created
   * (preflight, else the workload stage). Consolidation passes only when exactly these remain;
   * schedule and the stability windows check they survive the scale-out.
   */
  baselineNodeIds?: { name: string; uid: string }[];
  /**
   * n-plus-one: the nodes this run annotated karpenter.sh/do-not-disrupt (names; nodes that had it
   * already are not listed). Cleanup and post remove exactly these annotations.
   */
  pinnedNodes?: string[];
  /** n-plus-one: the run's NodeClaims that made the baseline (names): not the scale-out's, so provision and consolidation leave them out; cleanup removes them. */
  baselineNodeClaims?: string[];
  /** When the run's namespace was created, just before the workload stage: cleanup and post remove it when set. */
  namespaceCreatedAt?: string;
  /** Where the run's Lease is (lease-namespace), set just before it is created: cleanup and post delete it, last. */
  leaseNamespace?: string;
  /** When the run's Deployment was created (cluster time): NodeClaims made since then without a run label are this run's. Kept here so cleanup and post know it after the namespace is gone. */
  workloadCreatedAt?: string;
  /** PID of a Karpenter child process started in process mode. */
  karpenterPid?: number;
  karpenterLog?: string;
  karpenterHealthUrl?: string;
  /** Set by the runner when the run was cancelled before cleanup: cleanup then keeps nothing (keep-installed). */
  cancelled?: boolean;
  /** What cleanup left installed for later steps (keep-installed), e.g. "Helm release kube-system/karpenter". */
  kept?: string[];
  /** Helm releases this run installed (namespace/name), to uninstall at cleanup. */
  helmReleases: { namespace: string; name: string }[];
  /** Cluster-scoped objects this run applied and must remove (NodePool, KWOKNodeClass, CRDs it added). */
  appliedClusterObjects: { apiVersion: string; kind: string; name: string }[];
  /** Paths of tools put on PATH (ko, helm), and the karpenter binary. */
  toolPaths: Record<string, string>;
  /** Versions and cache facts recorded for results.json. */
  versions: Record<string, string>;
  cache: CacheFact[];
  timeline: TimelineEntry[];
  outputs: RunOutputs;
}
