// Karpenter's CRDs from the build, applied as their files say and waited on until Established.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type * as k8s from '@kubernetes/client-node';
import { isTrue, type WithConditions } from '../checks/conditions.js';
import type { PermissionRule } from '../checks/permissions.js';
import { applyObject, parseManifests, readObject } from '../kube/apply.js';
import { CRDS } from '../kube/paths.js';
import type { StageContext } from '../stages/stage.js';
import { waitFor } from '../stages/wait.js';

/** Applies Karpenter's CRDs (recording the ones this run added) and waits until they are Established. */
export async function applyCrds(ctx: StageContext, dir: string): Promise<string[]> {
  const kube = ctx.kube();
  const files = readdirSync(join(dir, 'crds'))
    .filter((f) => f.endsWith('.yaml'))
    .sort();
  const crds = files.flatMap((f) => parseManifests(readFileSync(join(dir, 'crds', f), 'utf8'), f));
  const names = crds.map((c) => c.metadata!.name!);
  const label = { [ctx.run.runLabel.key]: ctx.run.runLabel.value };
  // Independent objects: applied in parallel (one round trip of latency, not four).
  const created = await Promise.all(
    crds.map(async (crd) => {
      const before = await readObject(kube, { apiVersion: crd.apiVersion!, kind: crd.kind!, metadata: { name: crd.metadata!.name! } });
      // The run label tells later runs (and preflight) this CRD is the action's, not another installation's.
      const labels = before ? crd.metadata!.labels : { ...crd.metadata!.labels, ...label };
      // Recorded before the request goes, as the NodePool is: a create cut off by the stage's
      // end, or one of these parallel applies failing, must not leave an unrecorded CRD.
      if (!before) ctx.run.appliedClusterObjects.push({ apiVersion: crd.apiVersion!, kind: crd.kind!, name: crd.metadata!.name! });
      await applyObject(kube, { ...crd, metadata: { ...crd.metadata, ...(labels ? { labels } : {}) } }, { signal: ctx.signal });
      return !before;
    }),
  );
  await waitFor<k8s.V1CustomResourceDefinition & k8s.KubernetesObject, true>(
    ctx,
    {
      path: CRDS,
      describe: `Karpenter CRDs Established (${names.join(', ')})`,
      until: (items) => (names.every((n) => isTrue(items.get(n) as WithConditions, 'Established')) ? true : undefined),
      state: (items) => names.map((n) => `${n}: ${isTrue(items.get(n) as WithConditions, 'Established') ? 'Established' : 'not yet'}`).join(', '),
    },
    { expected: `Karpenter's CRDs Established`, next: 'check the apiserver log; a CRD the apiserver rejects shows in kubectl get crd -o yaml' },
  );
  ctx.evidence({
    title: 'Karpenter CRDs',
    command: `kubectl get crd ${names.join(' ')}`,
    output: names
      .map((n, i) => `${n} Established (${created[i] ? 'created by this run' : 'existed; applied over'}), schema as in ${files.join(', ')}`)
      .join('\n'),
  });
  return names;
}

/** What applying and waiting on the CRDs needs. */
export const crdRules = (): PermissionRule[] => [['get,list,watch,create,patch', 'apiextensions.k8s.io', 'customresourcedefinitions']];
