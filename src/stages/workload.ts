import { parse } from 'yaml';
import { readFileSync } from 'node:fs';
import type * as k8s from '@kubernetes/client-node';
import { nodeIdOf } from '../checks/baseline.js';
import { NODEPOOL_LABEL } from '../checks/capacity.js';
import { formatTaint, formatToleration, nodePoolTaints, poolTolerations, renderWorkload, WORKLOAD_NAME, type Toleration } from '../checks/workload.js';
import { applyObject } from '../kube/apply.js';
import type { Kube } from '../kube/client.js';
import { NODEPOOLS } from '../kube/paths.js';
import { getJson } from '../kube/raw.js';
import type { Config, NodePoolSpec } from '../types.js';
import { eventsItem, workloadPods } from './inspect.js';
import { shipped } from '../paths.js';
import { pass, StageFailure, type Stage } from './stage.js';

/** The shipped Deployment and HPA templates, read at run time from the action's root. */
export function readWorkloadTemplates(): { deployment: Record<string, unknown>; hpa: Record<string, unknown> } {
  const read = (f: string) => parse(readFileSync(shipped('manifests', 'workload', f), 'utf8')) as Record<string, unknown>;
  return { deployment: read('deployment.yaml'), hpa: read('hpa.yaml') };
}

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** The fields of the Deployment a reviewer checks, one per line. */
function describeDeployment(d: Obj, fromPool: Toleration[]): string {
  const pod = d.spec.template.spec;
  const c = pod.containers[0];
  return [
    `replicas: ${d.spec.replicas}`,
    `nvidia.com/gpu request=${c.resources.requests['nvidia.com/gpu']} limit=${c.resources.limits['nvidia.com/gpu']}`,
    `nodeSelector: ${JSON.stringify(pod.nodeSelector)}`,
    `tolerations: ${pod.tolerations.map((t: Toleration) => formatToleration(t)).join(', ')}`,
    `added for the NodePool's taints: ${fromPool.map(formatToleration).join(', ') || '(none: the template already tolerates them)'}`,
    `runAsNonRoot=${pod.securityContext.runAsNonRoot} readOnlyRootFilesystem=${c.securityContext.readOnlyRootFilesystem} allowPrivilegeEscalation=${c.securityContext.allowPrivilegeEscalation}`,
  ].join('\n');
}

/**
 * The NodePool as the cluster has it (what Karpenter provisions for), else as the nodepool file
 * has it. Best effort, so not a permission preflight demands: without `get nodepools` (which
 * provision needs anyway) the file's taints are used.
 */
async function nodePoolInUse(kube: Kube, config: Config): Promise<{ pool: NodePoolSpec; from: string }> {
  try {
    const np = await getJson<Record<string, unknown>>(kube, `${NODEPOOLS}/${config.nodePool.name}`);
    return { pool: { ...config.nodePool, manifests: [np] }, from: 'the cluster' };
  } catch {
    return { pool: config.nodePool, from: config.nodePoolFile };
  }
}

export const workloadStage: Stage = {
  name: 'workload',
  changesCluster: true,
  async run(ctx) {
    const { config, run } = ctx;
    const kube = ctx.kube();
    if (run.baselineNodes === undefined || run.baselineNodeIds === undefined) {
      // preflight not selected (or it recorded only the count): the baseline is taken here, still
      // before the workload exists. Identities, so consolidation can tell the baseline from the run's nodes.
      const nodes = (await kube.core.listNode({ labelSelector: `${NODEPOOL_LABEL}=${config.nodePool.name}` })).items.filter(
        (n) => !n.metadata?.deletionTimestamp,
      );
      run.baselineNodes ??= nodes.length;
      run.baselineNodeIds = nodes.map(nodeIdOf);
      ctx.checkpoint();
    }
    let templates;
    try {
      templates = readWorkloadTemplates();
    } catch (e) {
      throw new StageFailure(
        `Expected the workload templates under manifests/workload of the action; could not read them: ${(e as Error).message}`,
        'check the action checkout is complete (GITHUB_ACTION_PATH)',
      );
    }
    // The pods follow the NodePool Karpenter provisions for: the cluster's (existing mode uses an
    // installed one as is; a pool changed since the file was applied), else the file's.
    const { pool, from } = await nodePoolInUse(kube, config);
    const objects = renderWorkload(templates, { ...config, nodePool: pool }, run);
    const applied: k8s.KubernetesObject[] = [];
    for (const o of objects) applied.push(await applyObject(kube, o));
    const [ns, deployment, hpa] = applied as Obj[];
    // Recorded at once: cleanup and post tell this run's NodeClaims by the Deployment's creation
    // (the namespace, which holds the run's Lease, was made earlier, before the run's first change).
    run.namespaceCreatedAt ??= new Date(ns!.metadata.creationTimestamp).toISOString();
    run.workloadCreatedAt = new Date(deployment!.metadata.creationTimestamp).toISOString();
    ctx.checkpoint();
    ctx.evidence({
      title: `Namespace ${run.namespace}`,
      command: `kubectl get namespace ${run.namespace} --show-labels`,
      output: `created ${new Date(ns!.metadata.creationTimestamp).toISOString()} labels ${JSON.stringify(ns!.metadata.labels)}`,
    });
    ctx.evidence({
      title: `Deployment ${WORKLOAD_NAME}`,
      command: `kubectl get deployment ${WORKLOAD_NAME} -n ${run.namespace} -o yaml`,
      output: describeDeployment(deployment!, poolTolerations(pool, (templates.deployment as Obj).spec?.template?.spec?.tolerations ?? [])),
    });
    const { taints, startupTaints } = nodePoolTaints(pool);
    ctx.evidence({
      title: `Workload follows NodePool ${config.nodePool.name}`,
      command: `kubectl get nodepool ${config.nodePool.name} -o jsonpath='{.spec.template.spec.taints}{.spec.template.spec.startupTaints}'`,
      output: [
        `nodeSelector ${NODEPOOL_LABEL}=${config.nodePool.name}`,
        `NodePool taints: ${taints.map(formatTaint).join(', ') || '(none)'}`,
        `NodePool startupTaints: ${startupTaints.map(formatTaint).join(', ') || '(none)'}`,
        `(read from ${from}); every one tolerated by the pods`,
      ].join('\n'),
    });
    if (hpa) {
      const m = hpa.spec.metrics[0].external;
      ctx.evidence({
        title: `HPA ${WORKLOAD_NAME}`,
        command: `kubectl get hpa ${WORKLOAD_NAME} -n ${run.namespace} -o yaml`,
        output: `External metric ${m.metric.name} target AverageValue ${m.target.averageValue}; replicas ${hpa.spec.minReplicas}..${hpa.spec.maxReplicas}`,
      });
    }
    const how =
      config.scenario === 'metric'
        ? `HPA on ${config.metricName} (AverageValue ${config.metricTarget}, ${config.minReplicas}..${config.maxReplicas})`
        : `scaled straight to ${config.maxReplicas} replicas`;
    return pass(`Namespace ${run.namespace}: Deployment ${WORKLOAD_NAME} (${config.gpusPerPod} GPU/pod, NodePool ${config.nodePool.name}), ${how}`);
  },
  async diagnose(ctx) {
    const kube = ctx.kube();
    ctx.diagnostic(await workloadPods(kube, ctx.run.namespace));
    ctx.diagnostic(await eventsItem('Events in the run namespace', kube, ctx.run.namespace));
  },
};
