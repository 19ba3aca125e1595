// The KWOK controller that makes Karpenter's fake nodes Ready and their pods Running, installed
// from its Helm charts when the cluster has none.
import type { Kube } from '../kube/client.js';
import { ApiError, getJson } from '../kube/raw.js';
import type { StageContext } from '../stages/stage.js';
import { helmMajor, helmUpgradeArgs, KWOK_CHARTS } from '../tools/helm.js';
import { helm } from './helm-cli.js';

/** What names the KWOK controller's Deployment and pods (its chart's standard label). */
export const KWOK_SELECTOR = 'app.kubernetes.io/name=kwok';

/** Is a KWOK controller already there (a Deployment from its chart, or Stage objects of a kwokctl cluster)? */
export async function kwokInstalled(kube: Kube): Promise<string | undefined> {
  const deps = await kube.apps.listDeploymentForAllNamespaces({ labelSelector: KWOK_SELECTOR });
  if (deps.items.length > 0) return `Deployment ${deps.items[0]!.metadata!.namespace}/${deps.items[0]!.metadata!.name}`;
  try {
    const stages = await getJson<{ items: unknown[] }>(kube, '/apis/kwok.x-k8s.io/v1alpha1/stages');
    if (stages.items.length > 0) return `${stages.items.length} kwok Stage object(s)`;
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 404)) throw e;
  }
  return undefined;
}

/** The KWOK controller's CRDs (group kwok.x-k8s.io) in the cluster. */
async function kwokCrds(kube: Kube): Promise<string[]> {
  const crds = (await kube.apiext.listCustomResourceDefinition()).items;
  return crds.filter((c) => c.spec.group === 'kwok.x-k8s.io').map((c) => c.metadata!.name!);
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
  const before = await kwokCrds(ctx.kube());
  const version = (c: (typeof KWOK_CHARTS)[number]): string | undefined => ctx.config.kwokChartVersions[c.chart];
  for (const c of KWOK_CHARTS) {
    ctx.run.helmReleases.push({ namespace: o.namespace, name: c.release });
    await helm(
      ctx,
      helmUpgradeArgs({
        release: c.release,
        chart: c.chart,
        repo: ctx.config.kwokChartRepository,
        // kwok-chart-version: pinned, so a new chart release does not change what a run installs.
        version: version(c),
        namespace: o.namespace,
        timeoutMs: o.timeoutMs(),
        config: ctx.config,
        set: c.chart === 'kwok' ? o.set : [],
        helmMajor: helmMajor(ctx.run.versions.helm ?? ctx.config.helmVersion),
      }),
    );
    // Next to the Karpenter version in results.json: the chart versions this run installed.
    const v = version(c);
    if (v) ctx.run.versions[`${c.release}-chart`] = v;
  }
  // Helm installs a chart's crds/ but never removes them: the ones this run added are its own to remove.
  const added = (await kwokCrds(ctx.kube())).filter((n) => !before.includes(n));
  for (const name of added) ctx.run.appliedClusterObjects.push({ apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', name });
  ctx.checkpoint();
  return `KWOK controller: installed from ${ctx.config.kwokChartRepository} (charts ${KWOK_CHARTS.map((c) => `${c.chart} ${version(c) ?? '(latest)'}`).join(', ')}${o.set.length ? `; ${o.set.join(', ')}` : ''})`;
}
