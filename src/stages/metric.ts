import { metricListed, metricValue, type ExternalMetricValueList } from '../checks/metric.js';
import { apiServiceStatus, externalMetricAnswer, externalMetricsDiscovery } from './inspect.js';
import { EXTERNAL_METRICS, externalMetric } from '../kube/paths.js';
import { rawRequest } from '../kube/raw.js';
import { probeUntil, withSoftDeadline } from './wait.js';
import { pass, type Stage } from './stage.js';

export const metricStage: Stage = {
  name: 'metric',
  skipReason: (config) => (config.scenario !== 'metric' ? `scenario ${config.scenario} does not use a metric` : undefined),
  async run(stageCtx) {
    const ctx = withSoftDeadline(stageCtx, 'metric');
    const { config, run } = ctx;
    const kube = ctx.kube();
    const next = `check the metrics adapter serves ${config.metricName} (its rules), Prometheus scrapes the DCGM exporter, and the APIService is Available`;
    // The adapter lists a metric only once Prometheus has a series for it: ask until it does.
    await probeUntil(
      ctx,
      async () => {
        const r = await rawRequest(kube, EXTERNAL_METRICS, { signal: ctx.signal });
        if (r.status !== 200) return { state: `discovery answered HTTP ${r.status}: ${r.text.slice(0, 200)}` };
        return metricListed(r.body, config.metricName)
          ? { result: true, state: 'listed' }
          : { state: `discovery lists ${((r.body as { resources?: unknown[] }).resources ?? []).length} metric(s), not ${config.metricName}` };
      },
      { expected: `external metric ${config.metricName} listed by ${EXTERNAL_METRICS}`, next },
    );
    ctx.evidence({ title: `Metric ${config.metricName} registered`, command: `kubectl get --raw ${EXTERNAL_METRICS}`, output: `${config.metricName} listed` });

    const path = externalMetric(run.namespace, config.metricName);
    const seen = await probeUntil(
      ctx,
      async () => {
        const r = await rawRequest(kube, path, { signal: ctx.signal });
        if (r.status !== 200) return { state: `HTTP ${r.status}: ${r.text.slice(0, 200)}` };
        const v = metricValue(r.body as ExternalMetricValueList);
        return v ? { result: { ...v, raw: r.text, observedAt: new Date() }, state: 'value' } : { state: 'listed, but no value returned (empty items)' };
      },
      { expected: `a value for ${config.metricName} from ${path}`, next },
    );
    ctx.evidence({ title: `Metric ${config.metricName} value`, command: `kubectl get --raw ${path}`, output: seen.raw.slice(0, 4000) });
    ctx.mark({
      event: 'metric-first-seen',
      at: seen.timestamp ?? seen.observedAt.toISOString(),
      source: seen.timestamp ? `ExternalMetricValue ${config.metricName} .timestamp` : 'external metrics answer (receipt time)',
      observedAt: seen.observedAt.toISOString(),
    });
    return pass(`${config.metricName} = ${seen.value} (${seen.series} series, sum ${seen.total}); target ${config.metricTarget} per replica`);
  },
  async diagnose(ctx) {
    const kube = ctx.kube();
    ctx.diagnostic(await apiServiceStatus(kube));
    ctx.diagnostic(await externalMetricsDiscovery(kube));
    ctx.diagnostic(await externalMetricAnswer(kube, ctx.run.namespace, ctx.config.metricName));
  },
};
