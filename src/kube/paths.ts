// List paths of the resources the checks watch, and the apiVersion/kind -> list path mapping.

export const NODES = '/api/v1/nodes';
export const NAMESPACES = '/api/v1/namespaces';
export const NODECLAIMS = '/apis/karpenter.sh/v1/nodeclaims';
export const NODEPOOLS = '/apis/karpenter.sh/v1/nodepools';
export const podsIn = (ns: string): string => `/api/v1/namespaces/${ns}/pods`;
export const hpasIn = (ns: string): string => `/apis/autoscaling/v2/namespaces/${ns}/horizontalpodautoscalers`;
export const leasesIn = (ns: string): string => `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases`;
export const EXTERNAL_METRICS_GROUP = 'external.metrics.k8s.io';
export const EXTERNAL_METRICS_APISERVICE = 'v1beta1.external.metrics.k8s.io';
export const EXTERNAL_METRICS = '/apis/external.metrics.k8s.io/v1beta1';
export const externalMetric = (ns: string, metric: string): string => `${EXTERNAL_METRICS}/namespaces/${ns}/${metric}`;

/** The collection path of a resource: core group under /api, others under /apis. Pure. */
export function collectionPath(apiVersion: string, plural: string, namespace?: string): string {
  const base = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
  return namespace ? `${base}/namespaces/${namespace}/${plural}` : `${base}/${plural}`;
}
export const CRDS = '/apis/apiextensions.k8s.io/v1/customresourcedefinitions';
