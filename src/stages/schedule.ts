import type * as k8s from '@kubernetes/client-node';
import { judgeBaseline } from '../checks/baseline.js';
import { INSTANCE_TYPE_LABEL, NODEPOOL_LABEL } from '../checks/capacity.js';
import { multiGpuTypes, triggerOnBaseline } from '../checks/nplusone.js';
import { summarizeSchedule, type ScheduleSummary } from '../checks/pods.js';
import { gpusIn } from '../checks/quantity.js';
import { judgeRightSizing, podRequest, RIGHT_SIZING_NEXT } from '../checks/rightsizing.js';
import { desiredReplicas, WORKLOAD_SELECTOR } from '../checks/workload.js';
import { eventsItem, formatPods, podLogs, poolNodes, workloadPods } from './inspect.js';
import { KWOK_SELECTOR } from '../karpenter/kwok.js';
import { podsIn } from '../kube/paths.js';
import { waitFor, withSoftDeadline } from './wait.js';
import { pass, StageFailure, type Stage } from './stage.js';

/** Accepts any node: the wait ends when pods run; where they run is checked strictly after. */
const ANY_NODE: ReadonlySet<string> = { has: () => true } as unknown as ReadonlySet<string>;

export const scheduleStage: Stage = {
  name: 'schedule',
  async run(stageCtx) {
    const ctx = withSoftDeadline(stageCtx, 'schedule');
    const { config, run } = ctx;
    const kube = ctx.kube();
    const desired = desiredReplicas(config, run);
    const pool = config.nodePool.name;
    let last: ScheduleSummary | undefined;
    const { pods, receivedAt } = await waitFor<k8s.V1Pod, { pods: k8s.V1Pod[]; receivedAt: Date }>(
      ctx,
      {
        path: podsIn(run.namespace),
        labelSelector: WORKLOAD_SELECTOR,
        describe: `${desired} workload pod(s) Running`,
        state: () => last?.detail ?? 'no pods yet',
        until: (items, ev) => {
          last = summarizeSchedule(items.values(), ANY_NODE, desired);
          return last.ok ? { pods: [...items.values()], receivedAt: ev?.receivedAt ?? new Date() } : undefined;
        },
      },
      {
        expected: `every one of ${desired} desired replica(s) Running on a node of NodePool ${pool}, none Pending`,
        next: `check the pending pods' scheduling events (diagnostics) and the GPU capacity of the new nodes (kubectl describe nodes -l ${NODEPOOL_LABEL}=${pool})`,
      },
    );
    const nodes = (await kube.core.listNode({ labelSelector: `${NODEPOOL_LABEL}=${pool}` })).items;
    // The scale-out only adds: every baseline node still there, same UID.
    const lost = run.baselineNodeIds ? judgeBaseline(run.baselineNodeIds, nodes).gone : [];
    if (lost.length)
      throw new StageFailure(
        `Expected NodePool ${pool}'s baseline nodes to survive the scale-out; ${lost.map((g) => `${g.node.name} (uid ${g.node.uid}) ${g.how}`).join('; ')}`,
        `read Karpenter's log (diagnostics) for a disruption or replacement of that node; pin baseline nodes with the karpenter.sh/do-not-disrupt annotation`,
      );
    const strict = summarizeSchedule(pods, new Set(nodes.map((n) => n.metadata!.name!)), desired);
    ctx.evidence({
      title: 'Workload pods',
      command: `kubectl get pods -n ${run.namespace} -l ${WORKLOAD_SELECTOR} -o wide`,
      output: `${strict.detail}\n${formatPods(pods)}`,
    });
    if (!strict.ok) {
      throw new StageFailure(
        `Expected every replica on a node of NodePool ${pool}; saw ${strict.detail}${strict.elsewhere.length ? `: ${strict.elsewhere.join(', ')}` : ''}`,
        `check the Deployment's nodeSelector ${NODEPOOL_LABEL}=${pool} and the labels of the nodes`,
      );
    }
    // n-plus-one: the trigger is the +1: it must run on a node that is not one of the baseline's.
    const onBaseline =
      config.scenario === 'n-plus-one'
        ? triggerOnBaseline(pods, run.baselineNodeIds ?? [], nodes, multiGpuTypes(config.instanceTypes, config.nodePool.manifests))
        : undefined;
    if (onBaseline)
      throw new StageFailure(
        `Expected the trigger Running on a new node (N+1), not on one of the ${run.baselineNodeIds?.length ?? 0} baseline node(s); ${onBaseline}`,
        `give the NodePool only instance types of one GPU per node (its node.kubernetes.io/instance-type requirement), so each fill pod fills its node`,
      );
    run.outputs.podsScheduled = strict.runningOnPool.length;
    if (strict.lastRunning)
      ctx.mark({
        event: 'last-pod-running',
        at: strict.lastRunning.at,
        source: `Pod ${strict.lastRunning.pod} Ready .lastTransitionTime (last of ${strict.runningOnPool.length})`,
        observedAt: receivedAt.toISOString(),
      });

    // Right-sizing: each node against the cheapest single type, and the whole placement against
    // the cheapest set of the NodePool's types that holds the same pods (a verdict; a failure
    // only with require-right-sizing).
    const sizing = judgeRightSizing({
      types: config.instanceTypes,
      nodePool: config.nodePool.manifests,
      gpusPerPod: config.gpusPerPod,
      gpuLimit: config.nodePool.gpuLimit,
      nodes: nodes
        .filter((n) => strict.perNode[n.metadata!.name!])
        .map((n) => ({
          node: n.metadata!.name!,
          instanceType: n.metadata?.labels?.[INSTANCE_TYPE_LABEL] ?? '?',
          gpus: gpusIn(n.status?.allocatable),
          pods: pods.filter((p) => p.spec?.nodeName === n.metadata!.name!).map(podRequest),
        })),
    });
    ctx.evidence({
      title: 'Right-sizing',
      command: `kubectl get nodes -l ${NODEPOOL_LABEL}=${pool} -L ${INSTANCE_TYPE_LABEL}`,
      output: JSON.stringify(sizing.perNode, null, 2),
    });
    ctx.evidence({ title: 'Right-sizing: cheapest placement', output: `${sizing.sentence}\n${JSON.stringify(sizing, null, 2)}` });
    if (!sizing.ok && config.requireRightSizing)
      throw new StageFailure(`Expected the cheapest placement of the pods (require-right-sizing: true); saw ${sizing.sentence}`, RIGHT_SIZING_NEXT);
    if (!sizing.ok) ctx.warning(`right-sizing: ${sizing.sentence}`);
    const types = [...new Set(sizing.perNode.map((s) => s.instanceType))].join(', ');
    if (config.scenario === 'n-plus-one') {
      const base = run.baselineNodeIds?.length ?? 0;
      const on = Object.keys(strict.perNode).join(', ');
      return pass(
        `trigger Running on new node ${on} (${types}), not a baseline node; N+1 = ${nodes.filter((n) => !n.metadata?.deletionTimestamp).length} node(s) in NodePool ${pool}, the ${base} baseline node(s) intact; ${sizing.sentence}`,
      );
    }
    return pass(
      `${strict.runningOnPool.length}/${desired} replicas Running on ${Object.keys(strict.perNode).length} node(s) of NodePool ${pool} (${types}); ${sizing.sentence}`,
    );
  },
  async diagnose(ctx) {
    const kube = ctx.kube();
    ctx.diagnostic(await workloadPods(kube, ctx.run.namespace));
    // Every event of the pods, not only FailedScheduling: Scheduled says where each was bound.
    ctx.diagnostic(await eventsItem('Workload pod events', kube, ctx.run.namespace, { kind: 'Pod' }));
    ctx.diagnostic(await poolNodes(kube, ctx.config.nodePool.name));
    // A pod bound to a KWOK node runs only once the KWOK controller plays its stages: its log
    // says whether it saw the pod (the bed's process-mode KWOK is no pod and is not found).
    ctx.diagnostic(await podLogs(kube, 'KWOK controller', KWOK_SELECTOR, 80));
  },
};
