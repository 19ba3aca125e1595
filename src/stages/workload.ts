import { parse } from 'yaml';
import { readFileSync } from 'node:fs';
import type * as k8s from '@kubernetes/client-node';
import { formatIds, nodeIdOf } from '../checks/baseline.js';
import { isRunNodeClaim, NODEPOOL_LABEL, type NodeClaim } from '../checks/capacity.js';
import {
  baselineClaims,
  baselineFromFill,
  DO_NOT_DISRUPT,
  FILL_NAME,
  FILL_SELECTOR,
  fillPlacement,
  formatGpuTypes,
  HOSTNAME_LABEL,
  multiGpuTypes,
  multiGpuWarning,
  nPlusOneObjects,
  ONE_GPU_PER_NODE,
} from '../checks/nplusone.js';
import { formatTaint, formatToleration, nodePoolTaints, poolTolerations, renderWorkload, WORKLOAD_NAME, type Toleration } from '../checks/workload.js';
import { applyObject } from '../kube/apply.js';
import type { Kube } from '../kube/client.js';
import { NODECLAIMS, NODEPOOLS, NODES, podsIn } from '../kube/paths.js';
import { getJson } from '../kube/raw.js';
import { formatDuration } from '../format.js';
import type { Config, EvidenceItem, NodePoolSpec } from '../types.js';
import { capacityDiagnostics, eventsItem, workloadPods } from './inspect.js';
import { shipped } from '../paths.js';
import { runIdentity } from './identity.js';
import { pinNodes } from './pin.js';
import { holdSteady } from './steady.js';
import { waitFor, withSoftDeadline } from './wait.js';
import { pass, StageFailure, type Stage, type StageContext, type StageResult } from './stage.js';

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
  makesRunNamespace: true,
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
    if (config.scenario === 'n-plus-one') return nPlusOne(withSoftDeadline(ctx, 'workload'), templates, pool, from);
    const objects = renderWorkload(templates, { ...config, nodePool: pool }, run);
    const applied: k8s.KubernetesObject[] = [];
    for (const o of objects) applied.push(await applyObject(kube, o));
    const [ns, deployment, hpa] = applied as Obj[];
    recordCreated(ctx, ns!, deployment!);
    ctx.evidence({
      title: `Deployment ${WORKLOAD_NAME}`,
      command: `kubectl get deployment ${WORKLOAD_NAME} -n ${run.namespace} -o yaml`,
      output: describeDeployment(deployment!, poolTolerations(pool, (templates.deployment as Obj).spec?.template?.spec?.tolerations ?? [])),
    });
    ctx.evidence(followsPool(config.nodePool.name, pool, from));
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
    if (ctx.config.scenario === 'n-plus-one') await capacityDiagnostics(ctx);
    else ctx.diagnostic(await workloadPods(kube, ctx.run.namespace));
    ctx.diagnostic(await eventsItem('Events in the run namespace', kube, ctx.run.namespace));
  },
};

/**
 * Records the run's namespace and first Deployment as made (cleanup and post tell this run's
 * NodeClaims by the Deployment's creation; the namespace holds the run's Lease), saves the run
 * state at once, and puts the namespace in the evidence.
 */
function recordCreated(ctx: StageContext, ns: Obj, deployment: Obj): void {
  const { run } = ctx;
  run.namespaceCreatedAt ??= new Date(ns.metadata.creationTimestamp).toISOString();
  run.workloadCreatedAt = new Date(deployment.metadata.creationTimestamp).toISOString();
  ctx.checkpoint();
  ctx.evidence({
    title: `Namespace ${run.namespace}`,
    command: `kubectl get namespace ${run.namespace} --show-labels`,
    output: `created ${new Date(ns.metadata.creationTimestamp).toISOString()} labels ${JSON.stringify(ns.metadata.labels)}`,
  });
}

/** How the pods follow the NodePool: its selector, and the taints they tolerate. Pure. */
function followsPool(name: string, pool: NodePoolSpec, from: string): EvidenceItem {
  const { taints, startupTaints } = nodePoolTaints(pool);
  return {
    title: `Workload follows NodePool ${name}`,
    command: `kubectl get nodepool ${name} -o jsonpath='{.spec.template.spec.taints}{.spec.template.spec.startupTaints}'`,
    output: [
      `nodeSelector ${NODEPOOL_LABEL}=${name}`,
      `NodePool taints: ${taints.map(formatTaint).join(', ') || '(none)'}`,
      `NodePool startupTaints: ${startupTaints.map(formatTaint).join(', ') || '(none)'}`,
      `(read from ${from}); every one tolerated by the pods`,
    ].join('\n'),
  };
}

/**
 * The n-plus-one scenario's start (the conformance sequence N -> N+1 -> N): the fill Deployment
 * makes or finds N pool nodes, one fill pod on each; they are pinned (karpenter.sh/do-not-disrupt)
 * and become the baseline (with any the pool had before the run); the pool holds steady for the
 * stability window; then the trigger, one pod the full baseline cannot hold, is made.
 */
async function nPlusOne(ctx: StageContext, templates: { deployment: Obj; hpa: Obj }, pool: NodePoolSpec, from: string): Promise<StageResult> {
  const { config, run } = ctx;
  const kube = ctx.kube();
  const n = config.baselineNodes;
  const name = config.nodePool.name;
  const found = run.baselineNodeIds ?? [];
  const objects = nPlusOneObjects(templates, { ...config, nodePool: pool }, run);
  const ns = (await applyObject(kube, objects.namespace)) as Obj;
  const fill = (await applyObject(kube, objects.fill)) as Obj;
  // The run's NodeClaims are those made since its first Deployment: the fill's (the baseline it makes) among them.
  recordCreated(ctx, ns, fill);
  const fromPool = poolTolerations(pool, (templates.deployment as Obj).spec?.template?.spec?.tolerations ?? []);
  ctx.evidence({
    title: `Deployment ${FILL_NAME}`,
    command: `kubectl get deployment ${FILL_NAME} -n ${run.namespace} -o yaml`,
    output: `${describeDeployment(fill, fromPool)}
podAntiAffinity: required among the fill pods on ${HOSTNAME_LABEL} (one pod per node: ${n} pod(s) hold ${n} node(s))`,
  });
  ctx.evidence(followsPool(name, pool, from));
  const multi = multiGpuTypes(config.instanceTypes, pool.manifests);
  const warning = multiGpuWarning(name, multi);
  ctx.evidence({
    title: 'GPUs per node of the NodePool',
    command: `kubectl get nodepool ${name} -o jsonpath='{.spec.template.spec.requirements}'`,
    output: warning
      ? `${formatGpuTypes(multi)}: more than one GPU per node; ${ONE_GPU_PER_NODE}`
      : `every instance type the NodePool allows gives one GPU per node, as the conformance draft requires`,
  });
  if (warning) ctx.warning(warning);

  // N fill pods Running on N distinct nodes, then those nodes Ready in the pool.
  const story = {
    expected: `${n} pod(s) of Deployment ${FILL_NAME} Running on ${n} distinct Ready node(s) of NodePool ${name} (the baseline N = ${n})`,
    next: `check Karpenter's log and the NodeClaims (diagnostics), the NodePool's limits (nvidia.com/gpu of ${n} x ${config.gpusPerPod}) and the fill pods' events (kubectl describe pods -n ${run.namespace} -l ${FILL_SELECTOR})`,
  };
  let placed = fillPlacement([], n);
  placed = await waitFor<k8s.V1Pod, typeof placed>(
    ctx,
    {
      path: podsIn(run.namespace),
      labelSelector: FILL_SELECTOR,
      describe: `${n} fill pod(s) Running on ${n} node(s)`,
      state: () => placed.detail,
      until: (items) => {
        placed = fillPlacement(items.values(), n);
        return placed.ok ? placed : undefined;
      },
    },
    story,
  );
  let base = baselineFromFill(placed.nodes, [], name, found);
  let fillNodes: k8s.V1Node[] = [];
  base = await waitFor<k8s.V1Node, typeof base>(
    ctx,
    {
      path: NODES,
      labelSelector: `${NODEPOOL_LABEL}=${name}`,
      describe: `the ${n} fill node(s) Ready`,
      state: () => base.detail,
      until: (items) => {
        base = baselineFromFill(placed.nodes, items.values(), name, found);
        fillNodes = [...items.values()].filter((x) => placed.nodes.includes(x.metadata?.name ?? ''));
        return base.ok ? base : undefined;
      },
    },
    story,
  );

  // Pinned before they count as the baseline: Karpenter must not consolidate them under the trigger's node.
  const pins = await pinNodes(kube, run, placed.nodes, () => ctx.checkpoint());
  run.baselineNodeIds = base.ids;
  run.baselineNodes = base.ids.length;
  // The NodeClaims the run made for the baseline are not the scale-out's (provision, consolidation); cleanup still removes them.
  // Watched until each fill node the run made has its claim: Karpenter records the node on the claim a little after the node is up.
  const everything = await runIdentity(kube, config, run, { withBaseline: true });
  let owned = baselineClaims([], fillNodes, found);
  owned = await waitFor<NodeClaim, typeof owned>(
    ctx,
    {
      path: NODECLAIMS,
      labelSelector: `${NODEPOOL_LABEL}=${name}`,
      describe: `the NodeClaims of the ${n} fill node(s)`,
      state: () => `no NodeClaim of this run found yet for ${owned.missing.join(', ') || '(none)'}`,
      until: (items) => {
        owned = baselineClaims(
          [...items.values()].filter((c) => isRunNodeClaim(c, everything)),
          fillNodes,
          found,
        );
        return owned.ok ? owned : undefined;
      },
    },
    {
      expected: `a NodeClaim of this run for each fill node the pool did not have before (${fillNodes.map((x) => x.metadata?.name).join(', ')})`,
      next: `check the fill nodes' NodeClaims (kubectl get nodeclaims -l ${NODEPOOL_LABEL}=${name} -o wide): a node of the pool made by another run or by hand is not this run's`,
    },
  );
  run.baselineNodeClaims = owned.names;
  ctx.checkpoint();
  ctx.evidence({
    title: `Baseline N = ${base.ids.length}`,
    command: `kubectl get nodes -l ${NODEPOOL_LABEL}=${name} -o custom-columns=NAME:.metadata.name,UID:.metadata.uid,DND:.metadata.annotations.karpenter\\.sh/do-not-disrupt`,
    output: [
      `baseline: ${formatIds(base.ids)}`,
      `filled by ${FILL_NAME}: ${placed.detail}`,
      `pinned by this run (${DO_NOT_DISRUPT}=true, removed at cleanup): ${pins.pinned.join(', ') || '(none)'}`,
      ...(pins.already.length ? [`already pinned before the run (left as found): ${pins.already.join(', ')}`] : []),
      `NodeClaims this run made for the baseline (not counted as the scale-out's): ${run.baselineNodeClaims.join(', ') || '(none: the fill pods found nodes of the pool)'}`,
      ...(found.length ? [`found in the pool before the run: ${formatIds(found)}`] : []),
    ].join('\n'),
  });
  const steady = await holdSteady(ctx, {
    pool: name,
    windowMs: config.stabilityWindowMs,
    after: 'on the baseline',
    expectUids: new Set(base.ids.map((b) => b.uid)),
  });

  const trigger = (await applyObject(kube, objects.trigger)) as Obj;
  ctx.evidence({
    title: `Deployment ${WORKLOAD_NAME}`,
    command: `kubectl get deployment ${WORKLOAD_NAME} -n ${run.namespace} -o yaml`,
    output: `the trigger, made once the baseline held (${new Date(trigger.metadata.creationTimestamp).toISOString()})\n${describeDeployment(trigger, fromPool)}`,
  });
  const held = steady ? `, held ${formatDuration(steady.windowMs)} without change` : '';
  return pass(
    `baseline ${base.ids.length} node(s) pinned and filled (${base.ids.map((b) => b.name).join(', ')})${held}; trigger Deployment ${WORKLOAD_NAME}: 1 pod of ${config.gpusPerPod} GPU(s) for N+1 = ${base.ids.length + 1}${warning ? `; warning: NodePool ${name} allows more than one GPU per node (${formatGpuTypes(multi)})` : ''}`,
  );
}
