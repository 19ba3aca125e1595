// Helm's command lines: install and uninstall a release on the run's cluster.
import type { Config } from '../types.js';

export const KARPENTER_RELEASE = 'karpenter';
export const KARPENTER_NAMESPACE = 'kube-system';

/** --kubeconfig/--kube-context from the config (the same cluster every client of the run talks to). */
export function kubeArgs(config: Pick<Config, 'kubeconfig' | 'context'>): string[] {
  return [...(config.kubeconfig ? ['--kubeconfig', config.kubeconfig] : []), ...(config.context ? ['--kube-context', config.context] : [])];
}

/**
 * `helm upgrade --install`, bounded by the stage's remaining time; with --wait unless the
 * caller checks readiness itself (Helm counts a 1-replica Deployment with maxUnavailable 1 as
 * ready with no ready pod). CRDs are applied by the action.
 */
export function helmUpgradeArgs(o: {
  release: string;
  chart: string;
  namespace: string;
  valuesFile?: string;
  timeoutMs: number;
  repo?: string;
  /** The chart version (with repo): pinned, so a new chart release does not change what a run installs. */
  version?: string;
  /** --set key=value pairs. */
  set?: string[];
  wait?: boolean;
  config: Pick<Config, 'kubeconfig' | 'context'>;
  skipCrds?: boolean;
}): string[] {
  return [
    'upgrade',
    '--install',
    o.release,
    o.chart,
    ...(o.repo ? ['--repo', o.repo] : []),
    ...(o.version ? ['--version', o.version] : []),
    '--namespace',
    o.namespace,
    '--create-namespace',
    ...(o.skipCrds ? ['--skip-crds'] : []),
    ...(o.valuesFile ? ['--values', o.valuesFile] : []),
    ...(o.set ?? []).flatMap((kv) => ['--set', kv]),
    ...(o.wait === false ? [] : ['--wait']),
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
