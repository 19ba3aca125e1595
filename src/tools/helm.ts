import { deleteObject, readObject } from '../kube/apply.js';
import { connect } from '../kube/client.js';
import type { Config, RunState } from '../types.js';
import { run } from './exec.js';
import type { ImageRef } from './karpenter.js';

/** Where the instance-types ConfigMap is mounted in the chart's pod (GPU CI's layout). */
export const INSTANCE_TYPES_MOUNT = '/etc/karpenter/instance-types';
export const INSTANCE_TYPES_KEY = 'instance-types.json';
export const INSTANCE_TYPES_CONFIGMAP = 'karpenter-instance-types';
export const KARPENTER_RELEASE = 'karpenter';
export const KARPENTER_NAMESPACE = 'kube-system';

/** --kubeconfig/--kube-context from the config (the same cluster every client of the run talks to). */
export function kubeArgs(config: Pick<Config, 'kubeconfig' | 'context'>): string[] {
  return [...(config.kubeconfig ? ['--kubeconfig', config.kubeconfig] : []), ...(config.context ? ['--kube-context', config.context] : [])];
}

/**
 * Values for Karpenter's KWOK chart (kwok/charts of the module): the image ko built, the pull
 * policy for where it lives (kind: side-loaded, never pulled; registry: pulled once), the
 * instance types mounted from a ConfigMap, bounded resources and the log level.
 */
export function karpenterValues(o: { mode: 'kind' | 'registry'; image: ImageRef; logLevel?: string }): Record<string, unknown> {
  return {
    imagePullPolicy: o.mode === 'kind' ? 'Never' : 'IfNotPresent',
    logLevel: o.logLevel ?? 'info',
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

/** `helm upgrade --install` with --wait bounded by the stage's remaining time. CRDs are applied by the action. */
export function helmUpgradeArgs(o: {
  release: string;
  chart: string;
  namespace: string;
  valuesFile?: string;
  timeoutMs: number;
  repo?: string;
  config: Pick<Config, 'kubeconfig' | 'context'>;
  skipCrds?: boolean;
}): string[] {
  return [
    'upgrade',
    '--install',
    o.release,
    o.chart,
    ...(o.repo ? ['--repo', o.repo] : []),
    '--namespace',
    o.namespace,
    '--create-namespace',
    ...(o.skipCrds ? ['--skip-crds'] : []),
    ...(o.valuesFile ? ['--values', o.valuesFile] : []),
    '--wait',
    '--timeout',
    `${Math.max(1, Math.floor(o.timeoutMs / 1000))}s`,
    ...kubeArgs(o.config),
  ];
}

export function helmUninstallArgs(release: { namespace: string; name: string }, config: Pick<Config, 'kubeconfig' | 'context'>): string[] {
  return ['uninstall', release.name, '--namespace', release.namespace, '--wait', '--ignore-not-found', ...kubeArgs(config)];
}

/** KWOK's charts: the controller, then the stages that make its nodes Ready and pods Running fast. */
export const KWOK_CHARTS = [
  { release: 'kwok', chart: 'kwok' },
  { release: 'kwok-stage-fast', chart: 'stage-fast' },
] as const;

/**
 * Uninstalls the Helm releases this run installed, newest first, and the instance-types
 * ConfigMap that came with Karpenter's (when this run's label is on it). `config` gives the
 * cluster (the post step passes the saved config); without it, helm's own defaults apply.
 */
export async function uninstallReleases(runState: RunState, config: Pick<Config, 'kubeconfig' | 'context'> = {}, signal?: AbortSignal): Promise<void> {
  const helm = runState.toolPaths.helm ?? 'helm';
  for (const release of [...runState.helmReleases].reverse()) {
    await run(helm, helmUninstallArgs(release, config), { signal });
    runState.helmReleases = runState.helmReleases.filter((r) => r !== release);
    if (release.name === KARPENTER_RELEASE) {
      const kube = connect(config);
      const ref = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: INSTANCE_TYPES_CONFIGMAP, namespace: release.namespace } };
      const cm = await readObject(kube, ref);
      if (cm?.metadata?.labels?.[runState.runLabel.key] === runState.runLabel.value) await deleteObject(kube, ref);
    }
  }
}
