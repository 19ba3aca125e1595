import type * as k8s from '@kubernetes/client-node';
import { INSTANCE_TYPE_LABEL, NODEPOOL_LABEL } from '../checks/capacity.js';
import { summarizeSchedule, type ScheduleSummary } from '../checks/pods.js';
import { gpusIn } from '../checks/quantity.js';
import { sizeNode } from '../checks/rightsizing.js';
import { desiredReplicas, WORKLOAD_SELECTOR } from '../checks/workload.js';
import { eventsItem, formatPods, poolNodes, workloadPods } from '../kube/inspect.js';
import { podsIn } from '../kube/paths.js';
import { waitFor, withSoftDeadline } from '../kube/wait.js';
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
    run.outputs.podsScheduled = strict.runningOnPool.length;
    if (strict.lastRunning)
      ctx.mark({
        event: 'last-pod-running',
        at: strict.lastRunning.at,
        source: `Pod ${strict.lastRunning.pod} Ready .lastTransitionTime (last of ${strict.runningOnPool.length})`,
        observedAt: receivedAt.toISOString(),
      });

    // Right-sizing: for each node, the cheapest instance type that holds the pods it runs.
    const sizing = nodes
      .filter((n) => strict.perNode[n.metadata!.name!])
      .map((n) =>
        sizeNode(
          config.instanceTypes,
          n.metadata!.name!,
          n.metadata?.labels?.[INSTANCE_TYPE_LABEL] ?? '?',
          gpusIn(n.status?.allocatable),
          strict.perNode[n.metadata!.name!]!,
          config.gpusPerPod,
        ),
      );
    ctx.evidence({
      title: 'Right-sizing',
      command: `kubectl get nodes -l ${NODEPOOL_LABEL}=${pool} -L ${INSTANCE_TYPE_LABEL}`,
      output: JSON.stringify(sizing, null, 2),
    });
    const oversized = sizing.filter((s) => !s.rightSized);
    if (oversized.length)
      ctx.warning(
        `Karpenter chose a pricier type than needed for ${oversized.map((s) => `${s.node} (${s.instanceType}, cheapest fit ${s.cheapestFit})`).join(', ')}`,
      );
    const types = [...new Set(sizing.map((s) => s.instanceType))].join(', ');
    return pass(
      `${strict.runningOnPool.length}/${desired} replicas Running on ${Object.keys(strict.perNode).length} node(s) of NodePool ${pool} (${types}); ${oversized.length ? `${oversized.length} node(s) not right-sized` : 'all right-sized'}`,
    );
  },
  async diagnose(ctx) {
    const kube = ctx.kube();
    ctx.diagnostic(await workloadPods(kube, ctx.run.namespace));
    ctx.diagnostic(await eventsItem('Scheduling events', kube, ctx.run.namespace, { reason: 'FailedScheduling' }));
    ctx.diagnostic(await poolNodes(kube, ctx.config.nodePool.name));
  },
};
