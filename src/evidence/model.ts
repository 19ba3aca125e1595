// The evidence of one run as data: results.json is this object, every other writer reads it.
import type { Config, RequirementVerdict, RunResultValue, RunState, StageName, StageRecord, TimelineEntry } from '../types.js';
import { describeUnproven, requirementsOf, requirementVerdicts, resultOf, type RequirementId } from './verdict.js';

export { provingStages, requirementVerdicts, resultOf } from './verdict.js';

/** 1.1: result may be inconclusive; run.unproven and requirements added (1.0 files stay valid). */
export const RESULTS_SCHEMA_VERSION = '1.2';
export const REQUIREMENT_ID = 'cluster_autoscaling';

export interface Results {
  schemaVersion: string;
  requirement: { id: string; also: string[] };
  tool: { name: string; version: string };
  run: {
    id: string;
    namespace: string;
    result: RunResultValue;
    failedStage: StageName | null;
    /** Why the result is inconclusive: the proving stages that did not run, and why; empty otherwise. */
    unproven: string;
    startedAt: string;
    finishedAt: string;
    durationMs: number;
    github: Record<string, string>;
    /** Set when the run was cancelled (the runner's SIGINT/SIGTERM): by what, in which stage, and how far cleanup got (since 1.1). */
    cancelled?: CancelledRun;
  };
  cluster: { context: string | null; kubernetesVersion: string | null };
  scenario: {
    name: Config['scenario'];
    karpenterMode: Config['karpenterMode'];
    karpenterVersion: string;
    nodePool: string;
    gpuLimit: number | null;
    metricName: string | null;
    metricTarget: string | null;
    minReplicas: number;
    maxReplicas: number;
    gpusPerPod: number;
    consolidation: Config['consolidation'];
    /** N of the n-plus-one scenario (null in the others). */
    baselineNodes: number | null;
  };
  versions: Record<string, string>;
  cache: RunState['cache'];
  outputs: { nodesProvisioned: number | null; podsScheduled: number | null; hpaDesiredReplicas: number | null };
  /** What the run may claim per conformance requirement: pass, fail, or not checked and why (since 1.1: absent from a 1.0 file read back). */
  requirements?: RequirementVerdict[];
  /** Each stage with the conformance requirements it is evidence for (none: setup and teardown). */
  stages: (StageRecord & { requirements: RequirementId[] })[];
  timeline: TimelineEntry[];
}

/** A cancelled run: the signal, the stage it stopped, and cleanup's state when results.json was written. */
export interface CancelledRun {
  signal: string;
  stage: StageName | null;
  at: string;
  /** pending: written before cleanup started (the kill may come first); pass/fail: cleanup's outcome. */
  cleanup: 'pending' | 'pass' | 'fail';
}

const GITHUB_VARS = ['GITHUB_REPOSITORY', 'GITHUB_RUN_ID', 'GITHUB_RUN_ATTEMPT', 'GITHUB_JOB', 'GITHUB_WORKFLOW', 'GITHUB_SHA', 'GITHUB_REF'];

export function buildResults(config: Config, run: RunState, stages: StageRecord[], version: string, env: NodeJS.ProcessEnv = process.env): Results {
  const { result, failedStage, unproven } = resultOf(stages, config);
  const startedAt = stages[0]?.startedAt ?? new Date().toISOString();
  const finishedAt =
    stages
      .map((s) => s.finishedAt)
      .sort()
      .at(-1) ?? startedAt;
  const timeline = byClusterTime(run.timeline);
  return {
    schemaVersion: RESULTS_SCHEMA_VERSION,
    requirement: { id: REQUIREMENT_ID, also: config.scenario === 'metric' ? ['pod_autoscaling'] : [] },
    tool: { name: 'gpu-autoscaling-conformance', version },
    run: {
      id: run.runId,
      namespace: run.namespace,
      result,
      failedStage,
      unproven: describeUnproven(unproven),
      startedAt,
      finishedAt,
      durationMs: Date.parse(finishedAt) - Date.parse(startedAt),
      github: Object.fromEntries(GITHUB_VARS.filter((k) => env[k]).map((k) => [k.replace(/^GITHUB_/, '').toLowerCase(), env[k]!])),
    },
    cluster: { context: config.context ?? null, kubernetesVersion: run.versions.kubernetes ?? null },
    scenario: {
      name: config.scenario,
      karpenterMode: config.karpenterMode,
      karpenterVersion: config.karpenterVersion,
      nodePool: config.nodePool.name,
      gpuLimit: config.nodePool.gpuLimit ?? null,
      metricName: config.scenario === 'metric' ? config.metricName : null,
      metricTarget: config.scenario === 'metric' ? config.metricTarget : null,
      minReplicas: config.minReplicas,
      maxReplicas: config.maxReplicas,
      gpusPerPod: config.gpusPerPod,
      consolidation: config.consolidation,
      baselineNodes: config.scenario === 'n-plus-one' ? config.baselineNodes : null,
    },
    versions: run.versions,
    cache: run.cache,
    outputs: {
      nodesProvisioned: run.outputs.nodesProvisioned ?? null,
      podsScheduled: run.outputs.podsScheduled ?? null,
      hpaDesiredReplicas: run.outputs.hpaDesiredReplicas ?? null,
    },
    requirements: requirementVerdicts(stages, config),
    stages: stages.map((s) => ({ ...s, requirements: requirementsOf(s.name, config) })),
    timeline,
  };
}

/** Stage name -> duration in ms, for the `timings` output. */
export const timingsOf = (stages: StageRecord[]): Record<string, number> =>
  Object.fromEntries(stages.filter((s) => s.status !== 'skip').map((s) => [s.name, s.durationMs]));

/** Timeline entries as offsets from the first one, for tables and charts. */
export function timelineOffsets(timeline: TimelineEntry[]): { entry: TimelineEntry; offsetMs: number }[] {
  const sorted = byClusterTime(timeline);
  const t0 = sorted[0] ? Date.parse(sorted[0].at) : 0;
  return sorted.map((entry) => ({ entry, offsetMs: Date.parse(entry.at) - t0 }));
}

/** Timeline entries in cluster-time order. By parsed time: "…:36Z" is earlier than "…:36.790Z", though it sorts after it as text. */
export const byClusterTime = (timeline: TimelineEntry[]): TimelineEntry[] => [...timeline].sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
