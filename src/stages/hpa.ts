import type * as k8s from '@kubernetes/client-node';
import { describeHpa, evaluateHpa, type HpaVerdict } from '../checks/hpa.js';
import { WORKLOAD_NAME } from '../checks/workload.js';
import { externalMetricAnswer, eventsItem, hpaStatus } from './inspect.js';
import { hpasIn } from '../kube/paths.js';
import { waitFor, withSoftDeadline } from './wait.js';
import { pass, type Stage } from './stage.js';

export const hpaStage: Stage = {
  name: 'hpa',
  skipReason: (config) => (config.scenario === 'pending-pods' ? 'scenario pending-pods has no HPA' : undefined),
  async run(stageCtx) {
    const ctx = withSoftDeadline(stageCtx, 'hpa');
    const { config, run } = ctx;
    let last: HpaVerdict | undefined;
    const { hpa, verdict, receivedAt } = await waitFor<
      k8s.V2HorizontalPodAutoscaler,
      { hpa: k8s.V2HorizontalPodAutoscaler; verdict: HpaVerdict; receivedAt: Date }
    >(
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
          return last.ok ? { hpa: h, verdict: last, receivedAt: ev?.receivedAt ?? new Date() } : undefined;
        },
      },
      {
        expected: `HPA ${WORKLOAD_NAME} ScalingActive=True, AbleToScale=True and desiredReplicas > ${config.minReplicas}`,
        next: `check the HPA's conditions and events (kubectl describe hpa ${WORKLOAD_NAME} -n ${run.namespace}), that ${config.metricName} is above the target ${config.metricTarget}, and the metrics adapter answers`,
      },
    );
    run.outputs.hpaDesiredReplicas = verdict.desiredReplicas;
    ctx.evidence({
      title: 'HPA scale-out decision',
      command: `kubectl describe hpa ${WORKLOAD_NAME} -n ${run.namespace}`,
      output: describeHpa(hpa, config.metricName),
    });
    ctx.evidence(await eventsItem('HPA events', ctx.kube(), run.namespace, { kind: 'HorizontalPodAutoscaler', name: WORKLOAD_NAME }));
    ctx.mark({
      event: 'hpa-scale-decision',
      at: verdict.lastScaleTime ?? receivedAt.toISOString(),
      source: verdict.lastScaleTime ? `HPA ${WORKLOAD_NAME} .status.lastScaleTime` : 'HPA status (watch receipt time)',
      observedAt: receivedAt.toISOString(),
    });
    return pass(
      `HPA read ${config.metricName} = ${verdict.metricValue ?? '?'} (target ${config.metricTarget}): desiredReplicas ${verdict.desiredReplicas} > minReplicas ${config.minReplicas}`,
    );
  },
  async diagnose(ctx) {
    const kube = ctx.kube();
    ctx.diagnostic(await hpaStatus(kube, ctx.run.namespace, ctx.config.metricName));
    ctx.diagnostic(await eventsItem('HPA events', kube, ctx.run.namespace, { kind: 'HorizontalPodAutoscaler', name: WORKLOAD_NAME }));
    ctx.diagnostic(await externalMetricAnswer(kube, ctx.run.namespace, ctx.config.metricName));
  },
};
