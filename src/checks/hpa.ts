import type * as k8s from '@kubernetes/client-node';
import { condition, formatConditions, iso, type WithConditions } from './conditions.js';

export interface HpaVerdict {
  ok: boolean;
  desiredReplicas: number;
  currentReplicas: number;
  /** The metric value the HPA last read (averageValue or value), as the quantity it reported. */
  metricValue?: string;
  lastScaleTime?: string;
  /**
   * The HPA wanted more than its scale-up policy let it have this round (ScalingLimited=True,
   * reason ScaleUpLimit): desiredReplicas is a step on the way, not the value it settles on.
   */
  rateLimited: boolean;
  /** What is still missing, or the summary when ok. */
  detail: string;
}

/** ScalingLimited=True because of the scale-up rate (not the max-replicas cap). Pure. */
export function scaleUpRateLimited(hpa: k8s.V2HorizontalPodAutoscaler): boolean {
  const limited = condition(hpa as WithConditions, 'ScalingLimited');
  return limited?.status === 'True' && limited.reason === 'ScaleUpLimit';
}

/** The value of the external metric in the HPA's status, as it read it. */
export function hpaMetricValue(hpa: k8s.V2HorizontalPodAutoscaler, metricName: string): string | undefined {
  for (const m of hpa.status?.currentMetrics ?? []) {
    if (m.type === 'External' && m.external?.metric?.name === metricName) {
      const c = m.external.current;
      return c?.averageValue ?? c?.value;
    }
  }
  return undefined;
}

/** ScalingActive=True, AbleToScale=True and desiredReplicas > minReplicas: the HPA decided to scale out. Pure. */
export function evaluateHpa(hpa: k8s.V2HorizontalPodAutoscaler, minReplicas: number, metricName: string): HpaVerdict {
  const c = hpa as WithConditions;
  const desired = hpa.status?.desiredReplicas ?? 0;
  const current = hpa.status?.currentReplicas ?? 0;
  const missing: string[] = [];
  const active = condition(c, 'ScalingActive');
  const able = condition(c, 'AbleToScale');
  if (active?.status !== 'True')
    missing.push(`ScalingActive=${active?.status ?? 'absent'}${active?.reason ? ` (${active.reason}: ${active.message ?? ''})` : ''}`);
  if (able?.status !== 'True') missing.push(`AbleToScale=${able?.status ?? 'absent'}${able?.reason ? ` (${able.reason})` : ''}`);
  if (!(desired > minReplicas)) missing.push(`desiredReplicas ${desired} not above minReplicas ${minReplicas}`);
  const metricValue = hpaMetricValue(hpa, metricName);
  return {
    ok: missing.length === 0,
    desiredReplicas: desired,
    currentReplicas: current,
    metricValue,
    lastScaleTime: iso(hpa.status?.lastScaleTime),
    rateLimited: scaleUpRateLimited(hpa),
    detail: missing.length === 0 ? `desiredReplicas ${desired} > minReplicas ${minReplicas} at metric ${metricValue ?? '?'}` : missing.join('; '),
  };
}

export function describeHpa(hpa: k8s.V2HorizontalPodAutoscaler | undefined, metricName: string): string {
  if (!hpa) return 'HPA not found';
  return [
    `replicas current=${hpa.status?.currentReplicas ?? 0} desired=${hpa.status?.desiredReplicas ?? 0} (min ${hpa.spec?.minReplicas ?? 1}, max ${hpa.spec?.maxReplicas})`,
    `metric ${metricName} = ${hpaMetricValue(hpa, metricName) ?? '(not read yet)'}`,
    `lastScaleTime ${iso(hpa.status?.lastScaleTime) ?? '(never)'}`,
    formatConditions(hpa as WithConditions),
  ].join('\n');
}
