// The run's verdict and what it may claim per conformance requirement. Pure: the records of the
// stages and the config in, the verdict out. A conformance tool that says PASS for a run that
// never contacted the cluster (`stages: cleanup`) is worse than none, so a verdict stands only
// on the stages that prove it.
import type { Config, RequirementVerdict, RunResultValue, StageName, StageRecord } from '../types.js';

type Scope = Pick<Config, 'scenario' | 'consolidation'>;

/** A stage the verdict needed that did not pass, and why (its own skip message). */
export interface Unproven {
  stage: StageName;
  reason: string;
}

/**
 * The stages that prove the chain: the workload through schedule, and consolidation unless the
 * user chose to accept a pool that does not shrink (`warn`) or not to look (`skip`). The HPA is
 * part of the chain only in the metric scenario: pending-pods scales the Deployment itself.
 */
export function provingStages(config: Scope): StageName[] {
  return [
    'workload',
    ...(config.scenario === 'metric' ? (['hpa'] as const) : []),
    'pending',
    'provision',
    'schedule',
    ...(config.consolidation === 'require' ? (['consolidation'] as const) : []),
  ];
}

/** The needed stages that did not pass, with the reason each one gives. */
export function unprovenStages(stages: StageRecord[], needed: StageName[]): Unproven[] {
  return needed.flatMap((name) => {
    const rec = stages.find((s) => s.name === name);
    if (!rec) return [{ stage: name, reason: 'not recorded' }];
    // Only skips reach here (a failure decides the verdict first): their message says why.
    return rec.status === 'pass' ? [] : [{ stage: name, reason: rec.message }];
  });
}

/** pass only when every proving stage passed; fail when any stage failed; inconclusive otherwise. */
export function resultOf(stages: StageRecord[], config: Scope): { result: RunResultValue; failedStage: StageName | null; unproven: Unproven[] } {
  const failed = stages.find((s) => s.status === 'fail');
  if (failed) return { result: 'fail', failedStage: failed.name, unproven: [] };
  const unproven = unprovenStages(stages, provingStages(config));
  return { result: unproven.length ? 'inconclusive' : 'pass', failedStage: null, unproven };
}

/** "hpa, pending did not run: not selected by the stages input": stages that share a reason, grouped. */
export function describeUnproven(unproven: Unproven[]): string {
  const byReason = new Map<string, StageName[]>();
  for (const u of unproven) byReason.set(u.reason, [...(byReason.get(u.reason) ?? []), u.stage]);
  return [...byReason].map(([reason, names]) => `${names.join(', ')} did not run: ${reason}`).join('; ');
}

export type RequirementId = RequirementVerdict['id'];

/**
 * Which stages are evidence for which conformance requirement, and whether a stage's result
 * decides that requirement's verdict; the verdicts and the per-stage mapping in results.json,
 * junit.xml, ctrf.json and the Markdown all read this one table. cluster_autoscaling: pending
 * pods requesting GPUs made GPU nodes that ran them (workload, pending, provision, schedule) and
 * the nodes went away again (consolidation, deciding only with consolidation: require).
 * pod_autoscaling: an HPA scaled on the custom metric (workload, hpa; the metric stage shows the
 * metric reached the adapter); only in scenarios with an HPA. Pure.
 */
export function requirementMap(config: Scope): Record<RequirementId, { stage: StageName; decides: boolean }[]> {
  return {
    cluster_autoscaling: [
      ...(['workload', 'pending', 'provision', 'schedule'] as const).map((stage) => ({ stage, decides: true })),
      { stage: 'consolidation', decides: config.consolidation === 'require' },
    ],
    pod_autoscaling:
      config.scenario === 'metric'
        ? [
            { stage: 'metric', decides: false },
            { stage: 'workload', decides: true },
            { stage: 'hpa', decides: true },
          ]
        : [],
  };
}

/** The requirements a stage is evidence for (none: setup and teardown). Pure. */
export function requirementsOf(stage: StageName, config: Scope): RequirementId[] {
  return Object.entries(requirementMap(config))
    .filter(([, stages]) => stages.some((s) => s.stage === stage))
    .map(([id]) => id as RequirementId);
}

/** What the evidence may say of each requirement, from the stages that decide it (requirementMap). */
export function requirementVerdicts(stages: StageRecord[], config: Scope): RequirementVerdict[] {
  const map = requirementMap(config);
  const deciding = (id: RequirementId) => map[id].filter((s) => s.decides).map((s) => s.stage);
  const cluster = verdictOn('cluster_autoscaling', stages, deciding('cluster_autoscaling'));
  if (cluster.result === 'pass' && config.consolidation !== 'require') {
    cluster.reason =
      config.consolidation === 'skip'
        ? 'scale-up only: scale-down not checked (consolidation: skip)'
        : 'scale-up checked; scale-down only warned about (consolidation: warn)';
  }
  const pod: RequirementVerdict = map.pod_autoscaling.length
    ? verdictOn('pod_autoscaling', stages, deciding('pod_autoscaling'))
    : {
        id: 'pod_autoscaling',
        result: 'not-checked',
        reason: `scenario ${config.scenario} ${config.scenario === 'pending-pods' ? 'scales the Deployment directly, ' : 'runs '}without an HPA`,
      };
  return [cluster, pod];
}

function verdictOn(id: RequirementVerdict['id'], stages: StageRecord[], needed: StageName[]): RequirementVerdict {
  const failed = stages.find((s) => needed.includes(s.name) && s.status === 'fail');
  if (failed) return { id, result: 'fail', reason: `stage ${failed.name} failed` };
  // A failure outside the requirement's stages (preflight, install) leaves it unchecked, not failed.
  const unproven = unprovenStages(stages, needed);
  return unproven.length ? { id, result: 'not-checked', reason: describeUnproven(unproven) } : { id, result: 'pass' };
}
