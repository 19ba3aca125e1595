import type * as k8s from '@kubernetes/client-node';
import { firstUnschedulable, summarizeSchedule } from '../checks/pods.js';
import { desiredReplicas, WORKLOAD_NAME, WORKLOAD_SELECTOR } from '../checks/workload.js';
import { eventFirstTime } from '../kube/events.js';
import { eventsItem, formatPods, workloadPods } from './inspect.js';
import { podsIn } from '../kube/paths.js';
import { waitFor, withSoftDeadline } from './wait.js';
import { pass, StageFailure, type Stage } from './stage.js';

export const pendingStage: Stage = {
  name: 'pending',
  async run(stageCtx) {
    const ctx = withSoftDeadline(stageCtx, 'pending');
    const { config, run } = ctx;
    const desired = desiredReplicas(config, run);
    const seen = await waitFor<k8s.V1Pod, { first?: ReturnType<typeof firstUnschedulable>; pods: k8s.V1Pod[]; receivedAt: Date }>(
      ctx,
      {
        path: podsIn(run.namespace),
        labelSelector: WORKLOAD_SELECTOR,
        describe: 'an Unschedulable workload pod',
        state: (items) => summarizeSchedule(items.values(), new Set(), desired).detail.replace(' on the pool', ''),
        until: (items, ev) => {
          const pods = [...items.values()];
          const first = firstUnschedulable(pods);
          if (first) return { first, pods, receivedAt: ev?.receivedAt ?? new Date() };
          // Every desired pod already placed: the trigger may have come and gone (events tell), or never happened.
          const placed = pods.filter((p) => p.spec?.nodeName && !p.metadata?.deletionTimestamp).length;
          return placed >= desired ? { pods, receivedAt: ev?.receivedAt ?? new Date() } : undefined;
        },
      },
      {
        expected: `a pod of the workload PodScheduled=False reason Unschedulable (${desired} replicas, ${config.gpusPerPod} GPU each)`,
        next: `check the Deployment scaled (kubectl get deploy -n ${run.namespace}) and the scheduler is running`,
      },
    );
    // A pod's condition keeps only its latest transition: a pod Unschedulable earlier and
    // scheduled since shows only in the FailedScheduling events, so the earlier of both counts.
    const events = (await ctx.kube().core.listNamespacedEvent({ namespace: run.namespace, fieldSelector: 'reason=FailedScheduling' })).items.filter(
      (e) => e.involvedObject?.kind === 'Pod' && e.involvedObject.name?.startsWith(`${WORKLOAD_NAME}-`),
    );
    const firstEvent = events.filter((e) => eventFirstTime(e)).sort((a, b) => eventFirstTime(a).localeCompare(eventFirstTime(b)))[0];
    if (!seen.first && !firstEvent) {
      throw new StageFailure(
        `Expected overflow pods Unschedulable; saw all ${desired} pod(s) scheduled on existing nodes without any FailedScheduling:\n${formatPods(seen.pods)}`,
        `the cluster already had room, so nothing triggered autoscaling: raise max-replicas or gpus-per-pod above the free GPUs of NodePool ${config.nodePool.name}`,
      );
    }
    const fromEvent = firstEvent && (!seen.first || eventFirstTime(firstEvent) < seen.first.at);
    const at = fromEvent ? eventFirstTime(firstEvent!) : seen.first!.at;
    const source = fromEvent
      ? `Event FailedScheduling for Pod ${firstEvent!.involvedObject?.name} (first occurrence)`
      : `Pod ${seen.first!.pod} PodScheduled=False(Unschedulable) .lastTransitionTime`;
    const detail = seen.first
      ? `${seen.first.count} pod(s) Unschedulable; first ${seen.first.pod}: ${seen.first.message}`
      : `pods already scheduled when observed; FailedScheduling for ${firstEvent!.involvedObject?.name}: ${firstEvent!.message}`;
    ctx.evidence({
      title: 'Unschedulable pods',
      command: `kubectl get pods -n ${run.namespace} -l ${WORKLOAD_SELECTOR} -o wide`,
      output: `${detail}\n${formatPods(seen.pods)}`,
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
