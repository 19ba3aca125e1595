// Helm's command lines: install and uninstall a release on the run's cluster.
import type { Config } from '../types.js';

export const KARPENTER_RELEASE = 'karpenter';
export const KARPENTER_NAMESPACE = 'kube-system';

/** --kubeconfig/--kube-context from the config (the same cluster every client of the run talks to). */
export function kubeArgs(config: Pick<Config, 'kubeconfig' | 'context'>): string[] {
  return [...(config.kubeconfig ? ['--kubeconfig', config.kubeconfig] : []), ...(config.context ? ['--kube-context', config.context] : [])];
}

/**
 * Helm's major version from a release version (`helm-version`, e.g. v4.1.1 -> 4); 3 when it is
 * not a version (the default Helm, whose command lines also work with Helm 4).
 */
export function helmMajor(version: string): number {
  const m = /^v?(\d+)\.\d+\.\d+/.exec(version.trim());
  return m ? Number(m[1]) : 3;
}

/**
 * The flag that makes upgrade and uninstall wait (up to --timeout). Helm 3's `--wait` is a
 * boolean: poll until the resources are ready, or gone. Helm 4's takes a strategy (default
 * `hookOnly`, i.e. no wait): a bare `--wait` means `watcher` (kstatus over watches, needing
 * list+watch on every kind of the chart), `legacy` is Helm 3's polling: the same API calls
 * (those the preflight's rules were written for) and the same notion of ready. Written
 * `--wait=legacy`: a bare `--wait` never takes the next argument. Helm 3 refuses that form
 * (`invalid argument "legacy" for "--wait"`), hence the choice by major version.
 */
export function helmWaitArgs(major = 3): string[] {
  return major >= 4 ? ['--wait=legacy'] : ['--wait'];
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
  /** Helm's major version (`helmMajor(config.helmVersion)`): the --wait form; Helm 3's when absent. */
  helmMajor?: number;
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
    ...(o.wait === false ? [] : helmWaitArgs(o.helmMajor)),
    '--timeout',
    `${Math.max(1, Math.floor(o.timeoutMs / 1000))}s`,
    ...kubeArgs(o.config),
  ];
}

/** `helm uninstall`, waiting until the release's resources are gone; `helmMajor` as for helmUpgradeArgs. */
export function helmUninstallArgs(release: { namespace: string; name: string }, config: Pick<Config, 'kubeconfig' | 'context'>, helmMajor?: number): string[] {
  return ['uninstall', release.name, '--namespace', release.namespace, ...helmWaitArgs(helmMajor), '--ignore-not-found', ...kubeArgs(config)];
}

/** `helm list` of one release by exact name (prints its name when it exists); the same flags in Helm 3 and 4. */
export function helmListArgs(release: { namespace: string; name: string }, config: Pick<Config, 'kubeconfig' | 'context'>): string[] {
  return ['list', '--namespace', release.namespace, '--filter', `^${release.name}$`, '--short', ...kubeArgs(config)];
}

/** KWOK's charts: the controller, then the stages that make its nodes Ready and pods Running fast. */
export const KWOK_CHARTS = [
  { release: 'kwok', chart: 'kwok' },
  { release: 'kwok-stage-fast', chart: 'stage-fast' },
] as const;
