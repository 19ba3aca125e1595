import { parseQuantity } from './quantity.js';

export interface ExternalMetricValueList {
  items?: { metricName?: string; metricLabels?: Record<string, string>; timestamp?: string; value?: string }[];
}

/** Whether external.metrics.k8s.io discovery lists the metric (resource names are the metric names). Pure. */
export function metricListed(discovery: unknown, metric: string): boolean {
  const resources = (discovery as { resources?: { name?: string }[] } | undefined)?.resources ?? [];
  return resources.some((r) => r.name === metric || r.name?.split('/')[0] === metric);
}

/** The metric's values and the newest sample time; undefined when the adapter returned no value. Pure. */
export function metricValue(list: ExternalMetricValueList | undefined): { value: string; total: number; series: number; timestamp?: string } | undefined {
  const items = list?.items ?? [];
  if (items.length === 0) return undefined;
  const total = items.reduce((s, i) => s + (parseQuantity(i.value) ?? 0), 0);
  const timestamp = items
    .map((i) => i.timestamp)
    .filter((t): t is string => !!t)
    .sort()
    .at(-1);
  return { value: items.map((i) => i.value).join(', '), total, series: items.length, timestamp };
}
