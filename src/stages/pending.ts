import type * as k8s from '@kubernetes/client-node';
import { findTrigger, isKarpenterEvent, judgeTrigger, summarizeSchedule, type TriggerSearch } from '../checks/pods.js';
import { NODEPOOL_LABEL } from '../checks/capacity.js';
import { desiredReplicas, formatTaint, untoleratedTaints, WORKLOAD_NAME, WORKLOAD_SELECTOR, type Taint, type Toleration } from '../checks/workload.js';
import { multiGpuTypes, triggerOnBaseline } from '../checks/nplusone.js';
import { GPU_RESOURCE } from '../manifests.js';
import { eventFirstTime } from '../kube/events.js';
import { eventsItem, formatPods, workloadPods } from './inspect.js';
import { podsIn } from '../kube/paths.js';
import { waitFor, withSoftDeadline } from './wait.js';
import { pass, StageFailure, type Stage, type StageContext } from './stage.js';

/**
 * The taints of the pool's nodes the workload's pods do not tolerate, one line per node, for the
 * failure (kube-scheduler 1.34 says only "had untolerated taint(s)"). Best effort: undefined when
 * the nodes cannot be read or none applies.
 */
async function untoleratedOnPool(ctx: StageContext, pods: k8s.V1Pod[]): Promise<string | undefined> {
  const tolerations = (pods[0]?.spec?.tolerations ?? []) as Toleration[];
  try {
    const nodes = (await ctx.kube().core.listNode({ labelSelector: `${NODEPOOL_LABEL}=${ctx.config.nodePool.name}` })).items;
    const lines = nodes
      .map((n) => ({ node: n.metadata?.name, taints: untoleratedTaints(tolerations, (n.spec?.taints ?? []) as Taint[]) }))
      .filter((x) => x.taints.length)
      .map((x) => `node ${x.node} of the pool has taint(s) the pods do not tolerate: ${x.taints.map(formatTaint).join(', ')}`);
    return lines.join('\n') || undefined;
  } catch {
    return undefined;
  }
}

/** n-plus-one: the trigger placed on a baseline node (one with GPUs to spare) fails naming the node and the pool's multi-GPU types. */
async function failOnBaseline(ctx: StageContext, pods: k8s.V1Pod[]): Promise<void> {
  const { config, run } = ctx;
  const nodes = (await ctx.kube().core.listNode({ labelSelector: `${NODEPOOL_LABEL}=${config.nodePool.name}` })).items;
  const why = triggerOnBaseline(pods, run.baselineNodeIds ?? [], nodes, multiGpuTypes(config.instanceTypes, config.nodePool.manifests));
  if (why)
    throw new StageFailure(
      `Expected the trigger Unschedulable for lack of ${GPU_RESOURCE} on the full baseline (N = ${run.baselineNodeIds?.length ?? 0}); ${why}`,
      `give the NodePool only instance types of one GPU per node (its node.kubernetes.io/instance-type requirement), so each fill pod fills its node`,
    );
}

export const pendingStage: Stage = {
  name: 'pending',
  async run(stageCtx) {
    const ctx = withSoftDeadline(stageCtx, 'pending');
    const { config, run } = ctx;
    const desired = desiredReplicas(config, run);
    // The pool's nodes before the run: with none, every node the scheduler rules out is outside the pool.
    const poolNodes = run.baselineNodeIds?.length ?? run.baselineNodes ?? 0;
    let search: TriggerSearch = { other: [], undecided: 0 };
    const seen = await waitFor<k8s.V1Pod, { search: TriggerSearch; pods: k8s.V1Pod[]; receivedAt: Date }>(
      ctx,
      {
        path: podsIn(run.namespace),
        labelSelector: WORKLOAD_SELECTOR,
        describe: `a workload pod Unschedulable for lack of ${GPU_RESOURCE}`,
        state: (items) =>
          `${summarizeSchedule(items.values(), new Set(), desired).detail.replace(' on the pool', '')}${search.other.length ? `; unschedulable for other reasons: ${search.other.map((o) => `${o.pod}: ${o.message}`).join('; ')}` : ''}`,
        until: (items, ev) => {
          const pods = [...items.values()];
          search = findTrigger(pods, poolNodes, GPU_RESOURCE);
          const receivedAt = ev?.receivedAt ?? new Date();
          if (search.trigger) return { search, pods, receivedAt };
          // Every desired pod placed or unschedulable for another reason: the scheduler has spoken
          // (the events tell whether the GPU trigger came and went before this watch saw it).
          const live = pods.filter((p) => !p.metadata?.deletionTimestamp);
          const placed = live.filter((p) => p.spec?.nodeName).length;
          return placed + search.other.length >= desired && search.undecided === 0 ? { search, pods, receivedAt } : undefined;
        },
      },
      {
        expected: `a pod of the workload PodScheduled=False reason Unschedulable for lack of ${GPU_RESOURCE} (${desired} replicas, ${config.gpusPerPod} GPU each)`,
        next: `check the Deployment scaled (kubectl get deploy -n ${run.namespace}) and the scheduler is running`,
      },
    );
    // A pod's condition keeps only its latest message: a pod Unschedulable earlier and scheduled
    // (or re-judged) since shows only in kube-scheduler's FailedScheduling events, so the earlier
    // GPU trigger of both counts. Karpenter's own FailedScheduling events are not the scheduler's.
    const events = (await ctx.kube().core.listNamespacedEvent({ namespace: run.namespace, fieldSelector: 'reason=FailedScheduling' })).items.filter(
      (e) => e.involvedObject?.kind === 'Pod' && e.involvedObject.name?.startsWith(`${WORKLOAD_NAME}-`) && !isKarpenterEvent(e),
    );
    const gpuEvents = events.filter((e) => eventFirstTime(e) && judgeTrigger(e.message ?? '', poolNodes, GPU_RESOURCE).kind === 'gpu');
    const firstEvent = gpuEvents.sort((a, b) => eventFirstTime(a).localeCompare(eventFirstTime(b)))[0];
    const first = seen.search.trigger;
    if (!first && !firstEvent) {
      // What each pod's condition says now, and what the scheduler said before (events) when it differed.
      const now = new Set(seen.search.other.map((o) => `${o.pod}: ${o.message}`));
      const others = [
        ...now,
        ...events
          .filter((e) => !gpuEvents.includes(e) && !now.has(`${e.involvedObject?.name}: ${e.message}`))
          .map((e) => `${e.involvedObject?.name} (event ${eventFirstTime(e)}): ${e.message}`),
      ];
      if (others.length) {
        const taints = await untoleratedOnPool(ctx, seen.pods);
        throw new StageFailure(
          `Expected a workload pod Unschedulable for lack of ${GPU_RESOURCE} (the trigger of a GPU scale-up); the scheduler ruled the pods out for other reasons:\n${[...new Set(others)].join('\n')}${taints ? `\n${taints}` : ''}`,
          `make the pods fit NodePool ${config.nodePool.name}'s nodes but for their GPUs: a taint they do not tolerate, a cordoned node or an affinity keeps them off whatever the GPU capacity (kubectl describe nodes -l karpenter.sh/nodepool=${config.nodePool.name})`,
        );
      }
      if (config.scenario === 'n-plus-one') await failOnBaseline(ctx, seen.pods);
      throw new StageFailure(
        `Expected overflow pods Unschedulable; saw all ${desired} pod(s) scheduled on existing nodes without any FailedScheduling:\n${formatPods(seen.pods)}`,
        `the cluster already had room, so nothing triggered autoscaling: raise max-replicas or gpus-per-pod above the free GPUs of NodePool ${config.nodePool.name}`,
      );
    }
    const fromEvent = firstEvent && (!first || eventFirstTime(firstEvent) < first.at);
    const at = fromEvent ? eventFirstTime(firstEvent!) : first!.at;
    const source = fromEvent
      ? `Event FailedScheduling for Pod ${firstEvent!.involvedObject?.name} (first occurrence)`
      : `Pod ${first!.pod} PodScheduled=False(Unschedulable) .lastTransitionTime`;
    const why = first ? first.detail : judgeTrigger(firstEvent!.message ?? '', poolNodes, GPU_RESOURCE).detail;
    const detail = first
      ? `${first.count} pod(s) Unschedulable for lack of GPUs (${why}); first ${first.pod}: ${first.message}`
      : `pods already scheduled when observed; FailedScheduling for ${firstEvent!.involvedObject?.name} (${why}): ${firstEvent!.message}`;
    ctx.evidence({
      title: 'Unschedulable pods',
      command: `kubectl get pods -n ${run.namespace} -l ${WORKLOAD_SELECTOR} -o wide`,
      output: `${detail}${seen.search.other.length ? `\nunschedulable for other reasons: ${seen.search.other.map((o) => `${o.pod}: ${o.message}`).join('; ')}` : ''}\n${formatPods(seen.pods)}`,
    });
    ctx.evidence(await eventsItem('Scheduling events', ctx.kube(), run.namespace, { reason: 'FailedScheduling' }));
    ctx.mark({ event: 'first-pod-unschedulable', at, source, observedAt: seen.receivedAt.toISOString() });
    return pass(detail);
  },
  async diagnose(ctx) {
    const kube = ctx.kube();
    ctx.diagnostic(await workloadPods(kube, ctx.run.namespace));
    ctx.diagnostic(await eventsItem('Events in the run namespace', kube, ctx.run.namespace));
  },
};
