import type * as k8s from '@kubernetes/client-node';
import { describeHpa, evaluateHpa, type HpaVerdict } from '../checks/hpa.js';
import { WORKLOAD_NAME } from '../checks/workload.js';
import { externalMetricAnswer, eventsItem, hpaStatus } from './inspect.js';
import { hpasIn } from '../kube/paths.js';
import { waitFor, withSoftDeadline } from './wait.js';
import { pass, type Stage } from './stage.js';

export const hpaStage: Stage = {
  name: 'hpa',
  skipReason: (config) => (config.scenario !== 'metric' ? `scenario ${config.scenario} has no HPA` : undefined),
  async run(stageCtx) {
    const ctx = withSoftDeadline(stageCtx, 'hpa');
    const { config, run } = ctx;
    let last: HpaVerdict | undefined;
    type Seen = { hpa: k8s.V2HorizontalPodAutoscaler; verdict: HpaVerdict; receivedAt: Date };
    // The first scale-out decision, and then the value the HPA settles on: while its scale-up
    // policy holds it back (ScalingLimited ScaleUpLimit) each sync raises desiredReplicas again.
    let decided: Seen | undefined;
    let settled: Seen;
    try {
      settled = await waitFor<k8s.V2HorizontalPodAutoscaler, Seen>(
        ctx,
        {
          path: hpasIn(run.namespace),
          fieldSelector: `metadata.name=${WORKLOAD_NAME}`,
          describe: `HPA ${WORKLOAD_NAME} scale-out decision`,
          state: () => last?.detail ?? 'HPA not seen yet',
          until: (items, ev) => {
            const h = items.get(`${run.namespace}/${WORKLOAD_NAME}`);
            if (!h) return undefined;
            last = evaluateHpa(h, config.minReplicas, config.metricName);
            if (!last.ok) return undefined;
            const seen = { hpa: h, verdict: last, receivedAt: ev?.receivedAt ?? new Date() };
            decided ??= seen;
            if (last.rateLimited) return undefined;
            return seen;
          },
        },
        {
          expected: `HPA ${WORKLOAD_NAME} ScalingActive=True, AbleToScale=True and desiredReplicas > ${config.minReplicas}`,
          next: `check the HPA's conditions and events (kubectl describe hpa ${WORKLOAD_NAME} -n ${run.namespace}), that ${config.metricName} is above the target ${config.metricTarget}, and the metrics adapter answers`,
        },
      );
    } catch (e) {
      // Decided, but still climbing when the stage ends: the chain goes on with the last step, said as such.
      if (!decided || !last?.ok) throw e;
      settled = { ...decided, verdict: last };
      ctx.warning(
        `hpa: the HPA was still rate-limited (ScalingLimited ScaleUpLimit) at desiredReplicas ${last.desiredReplicas} when the stage ended; later stages use that value`,
      );
    }
    const { hpa, verdict } = settled;
    const receivedAt = decided!.receivedAt;
    const climbed = decided!.verdict.desiredReplicas !== verdict.desiredReplicas;
    run.outputs.hpaDesiredReplicas = verdict.desiredReplicas;
    ctx.evidence({
      title: 'HPA scale-out decision',
      command: `kubectl describe hpa ${WORKLOAD_NAME} -n ${run.namespace}`,
      output: describeHpa(hpa, config.metricName),
    });
    ctx.evidence(await eventsItem('HPA events', ctx.kube(), run.namespace, { kind: 'HorizontalPodAutoscaler', name: WORKLOAD_NAME }));
    const first = decided!.verdict;
    ctx.mark({
      event: 'hpa-scale-decision',
      at: first.lastScaleTime ?? receivedAt.toISOString(),
      source: first.lastScaleTime ? `HPA ${WORKLOAD_NAME} .status.lastScaleTime` : 'HPA status (watch receipt time)',
      observedAt: receivedAt.toISOString(),
    });
    if (climbed) {
      ctx.mark({
        event: 'hpa-settled',
        at: verdict.lastScaleTime ?? settled.receivedAt.toISOString(),
        source: verdict.lastScaleTime ? `HPA ${WORKLOAD_NAME} .status.lastScaleTime (last raise)` : 'HPA status (watch receipt time)',
        observedAt: settled.receivedAt.toISOString(),
      });
      ctx.evidence({
        title: 'HPA rate-limited on the way up',
        command: `kubectl get hpa ${WORKLOAD_NAME} -n ${run.namespace} -o jsonpath='{.status.conditions[?(@.type=="ScalingLimited")]}'`,
        output: `first decision desiredReplicas ${first.desiredReplicas} with ScalingLimited=True (ScaleUpLimit: the scale-up policy held it back); settled on ${verdict.desiredReplicas}${verdict.rateLimited ? ' (still rate-limited when the stage ended)' : ''}`,
      });
    }
    return pass(
      `HPA read ${config.metricName} = ${verdict.metricValue ?? '?'} (target ${config.metricTarget}): desiredReplicas ${verdict.desiredReplicas} > minReplicas ${config.minReplicas}${climbed ? ` (first ${first.desiredReplicas}, rate-limited on the way up)` : ''}`,
    );
  },
  async diagnose(ctx) {
    const kube = ctx.kube();
    ctx.diagnostic(await hpaStatus(kube, ctx.run.namespace, ctx.config.metricName));
    ctx.diagnostic(await eventsItem('HPA events', kube, ctx.run.namespace, { kind: 'HorizontalPodAutoscaler', name: WORKLOAD_NAME }));
    ctx.diagnostic(await externalMetricAnswer(kube, ctx.run.namespace, ctx.config.metricName));
  },
};
