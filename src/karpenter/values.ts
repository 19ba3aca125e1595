// Helm values for Karpenter's KWOK chart (kwok/charts of the module) and the KWOK controller's
// chart. Pure: what the action sets, and why, in one place.
import { parse } from 'yaml';
import type { ImageRef } from '../tools/karpenter.js';

/** Where the instance-types ConfigMap is mounted in the chart's pod (GPU CI's layout). */
export const INSTANCE_TYPES_MOUNT = '/etc/karpenter/instance-types';
export const INSTANCE_TYPES_KEY = 'instance-types.json';
export const INSTANCE_TYPES_CONFIGMAP = 'karpenter-instance-types';

/**
 * Every feature gate the chart's Deployment template renders, with a value: the chart's own
 * default where its values.yaml has one, else false. Karpenter v1.8.0's template renders
 * `StaticCapacity={{ .Values.settings.featureGates.staticCapacity }}` with no default in
 * values.yaml: an empty value makes the binary panic at start ("parsing feature gates").
 */
export function chartFeatureGates(deploymentTemplate: string, valuesYaml: string): Record<string, boolean> {
  const defaults = ((parse(valuesYaml) as { settings?: { featureGates?: Record<string, unknown> } } | null)?.settings?.featureGates ?? {}) as Record<
    string,
    unknown
  >;
  const gates: Record<string, boolean> = {};
  for (const m of deploymentTemplate.matchAll(/\.Values\.settings\.featureGates\.([A-Za-z0-9_]+)/g)) {
    const name = m[1]!;
    const d = defaults[name];
    gates[name] = typeof d === 'boolean' ? d : d === 'true';
  }
  return gates;
}

/**
 * Values for Karpenter's KWOK chart: the image ko built, the pull policy for where it lives
 * (side-loaded into kind: never pulled; pushed to a registry: pulled once), every feature gate
 * with a value, the instance types mounted from a ConfigMap, bounded resources and the log level.
 */
export function karpenterValues(o: {
  image: ImageRef;
  pullPolicy: 'Never' | 'IfNotPresent';
  featureGates: Record<string, boolean>;
  /** Labels on every object of the release: the run label, so preflight tells the action's Karpenter from another. */
  labels?: Record<string, string>;
  logLevel?: string;
}): Record<string, unknown> {
  return {
    ...(o.labels ? { additionalLabels: o.labels } : {}),
    imagePullPolicy: o.pullPolicy,
    logLevel: o.logLevel ?? 'info',
    settings: { featureGates: o.featureGates },
    controller: {
      image: {
        repository: o.image.repository,
        // The chart always writes repo:tag[@digest]; ko's kind publisher gives a tag, a registry push a digest.
        tag: o.image.tag ?? 'latest',
        digest: o.image.digest ?? '',
      },
      env: [{ name: 'INSTANCE_TYPES_FILE_PATH', value: `${INSTANCE_TYPES_MOUNT}/${INSTANCE_TYPES_KEY}` }],
      extraVolumeMounts: [{ name: 'instance-types', mountPath: INSTANCE_TYPES_MOUNT, readOnly: true }],
      resources: {
        requests: { cpu: '200m', memory: '256Mi' },
        limits: { memory: '1Gi' },
      },
    },
    extraVolumes: [{ name: 'instance-types', configMap: { name: INSTANCE_TYPES_CONFIGMAP } }],
  };
}

const isMap = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The user's values with the action's laid over them (Helm's own merge: maps merge, anything
 * else is replaced), and the dotted keys where the user's value lost. Pure.
 */
export function mergeValues(user: Record<string, unknown>, ours: Record<string, unknown>, at = ''): { values: Record<string, unknown>; overridden: string[] } {
  const values: Record<string, unknown> = { ...user };
  const overridden: string[] = [];
  for (const [k, v] of Object.entries(ours)) {
    const key = at ? `${at}.${k}` : k;
    if (isMap(v) && isMap(user[k])) {
      const inner = mergeValues(user[k], v, key);
      values[k] = inner.values;
      overridden.push(...inner.overridden);
    } else {
      if (k in user && JSON.stringify(user[k]) !== JSON.stringify(v)) overridden.push(key);
      values[k] = v;
    }
  }
  return { values, overridden };
}
