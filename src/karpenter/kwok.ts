// The KWOK controller that makes Karpenter's fake nodes Ready and their pods Running, installed
// from its Helm charts when the cluster has none.
import type { Kube } from '../kube/client.js';
import { ApiError, getJson } from '../kube/raw.js';
import type { StageContext } from '../stages/stage.js';
import { helmUpgradeArgs, KWOK_CHARTS } from '../tools/helm.js';
import { helm } from './helm-cli.js';

/** Is a KWOK controller already there (a Deployment from its chart, or Stage objects of a kwokctl cluster)? */
export async function kwokInstalled(kube: Kube): Promise<string | undefined> {
  const deps = await kube.apps.listDeploymentForAllNamespaces({ labelSelector: 'app.kubernetes.io/name=kwok' });
  if (deps.items.length > 0) return `Deployment ${deps.items[0]!.metadata!.namespace}/${deps.items[0]!.metadata!.name}`;
  try {
    const stages = await getJson<{ items: unknown[] }>(kube, '/apis/kwok.x-k8s.io/v1alpha1/stages');
    if (stages.items.length > 0) return `${stages.items.length} kwok Stage object(s)`;
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 404)) throw e;
  }
  return undefined;
}

/**
 * Installs the KWOK controller and its fast stages unless the cluster has one or the user said
 * skip; returns what was done, for the evidence. `set` are chart values the mode needs
 * (hostNetwork on kind, as the chart advises).
 */
export async function ensureKwok(ctx: StageContext, o: { namespace: string; set: string[]; timeoutMs: () => number }): Promise<string> {
  if (ctx.config.kwokInstall === 'skip') return 'KWOK controller: skipped (kwok-install: skip)';
  const found = await kwokInstalled(ctx.kube());
  if (found) return `KWOK controller: already installed (${found}), left as it is`;
  for (const c of KWOK_CHARTS) {
    ctx.run.helmReleases.push({ namespace: o.namespace, name: c.release });
    await helm(
      ctx,
      helmUpgradeArgs({
        release: c.release,
        chart: c.chart,
        repo: ctx.config.kwokChartRepository,
        namespace: o.namespace,
        timeoutMs: o.timeoutMs(),
        config: ctx.config,
        set: c.chart === 'kwok' ? o.set : [],
      }),
    );
  }
  return `KWOK controller: installed from ${ctx.config.kwokChartRepository} (charts ${KWOK_CHARTS.map((c) => c.chart).join(', ')}${o.set.length ? `; ${o.set.join(', ')}` : ''})`;
}
