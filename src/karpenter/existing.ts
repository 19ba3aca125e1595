// Existing mode: the cluster's own Karpenter is tested as it is. Nothing is built, installed,
// applied over or removed; the stage checks a Karpenter really runs and a GPU NodePool exists.
import type * as k8s from '@kubernetes/client-node';
import { deploymentHealthy, describeDeployment, gpuNodePools, karpenterPodsVerdict, reconciled, type NodePoolLike, type PodLike } from '../checks/karpenter.js';
import { KARPENTER, type PermissionRule } from '../checks/permissions.js';
import { GPU_RESOURCE } from '../manifests.js';
import { NODEPOOLS } from '../kube/paths.js';
import { ApiError, getJson } from '../kube/raw.js';
import { StageFailure, type StageContext } from '../stages/stage.js';
import type { KarpenterProvider } from './provider.js';

/** What names an installed Karpenter's Deployment and pods (its chart's standard label). */
export const KARPENTER_SELECTOR = 'app.kubernetes.io/name=karpenter';

async function validate(ctx: StageContext): Promise<string> {
  const kube = ctx.kube();
  const deps = (await kube.apps.listDeploymentForAllNamespaces({ labelSelector: KARPENTER_SELECTOR })).items;
  const pods = (await kube.core.listPodForAllNamespaces({ labelSelector: KARPENTER_SELECTOR })).items as PodLike[];
  let pools: NodePoolLike[];
  try {
    pools = (await getJson<{ items: NodePoolLike[] }>(kube, NODEPOOLS, undefined, ctx.signal)).items;
  } catch (e) {
    if (e instanceof ApiError && e.status === 404)
      throw new StageFailure(
        'Expected Karpenter installed (karpenter-mode existing); the karpenter.sh/v1 NodePool API is absent',
        'install Karpenter >= 1.0, or choose karpenter-mode process/kind/registry',
      );
    throw e;
  }
  const gpu = gpuNodePools(pools);
  const podVerdict = karpenterPodsVerdict(pods);
  const lines = [
    ...deps.map((d) => `deployment ${describeDeployment(d)}`),
    ...pods.map((p) => `pod ${p.metadata?.namespace}/${p.metadata?.name}: ${JSON.stringify(karpenterPodsVerdict([p]))}`),
    ...gpu.map((p) => `GPU NodePool ${p.metadata?.name}: limit ${GPU_RESOURCE}=${p.spec!.limits![GPU_RESOURCE]}, ${reconciled(p) ? 'Ready' : 'not Ready'}`),
  ];
  ctx.evidence({
    title: 'Installed Karpenter (left untouched)',
    command: `kubectl get deploy,pods -A -l ${KARPENTER_SELECTOR}; kubectl get nodepools`,
    output: lines.join('\n') || '(nothing found)',
  });
  if (deps.length > 0 && podVerdict.state === 'failed') {
    throw new StageFailure(
      `Expected the installed Karpenter to run; ${podVerdict.reason}`,
      'kubectl describe its pod and read its log (kubectl logs --previous)',
    );
  }
  const healthy = (deps as k8s.V1Deployment[]).filter(deploymentHealthy);
  if (deps.length > 0 && (healthy.length === 0 || podVerdict.state !== 'running')) {
    throw new StageFailure(
      `Expected a healthy Karpenter Deployment with a Ready pod; found ${deps.map(describeDeployment).join('; ')}${podVerdict.state === 'starting' ? `; ${podVerdict.detail}` : ''}`,
      'kubectl describe the Deployment and read its pod logs',
    );
  }
  if (gpu.length === 0) {
    throw new StageFailure(
      `Expected a GPU NodePool (spec.limits["${GPU_RESOURCE}"]); found ${pools.length ? pools.map((p) => p.metadata?.name).join(', ') : 'no NodePools'}`,
      'apply a NodePool with an nvidia.com/gpu limit (see manifests/nodepool.yaml) or run the nodepool stage',
    );
  }
  if (healthy.length === 0 && !gpu.some(reconciled)) {
    throw new StageFailure(
      `Expected a running Karpenter: no Deployment labelled ${KARPENTER_SELECTOR}, and no GPU NodePool reconciled (Ready) by a controller`,
      'install Karpenter, or choose karpenter-mode process',
    );
  }
  const who = healthy.length
    ? `Deployment ${healthy.map((d) => `${d.metadata?.namespace}/${d.metadata?.name}`).join(', ')}`
    : 'an out-of-cluster controller (no Deployment; its GPU NodePool is Ready)';
  return `existing Karpenter found: ${who}; GPU NodePool(s): ${gpu.map((p) => p.metadata?.name).join(', ')}`;
}

export const existingProvider: KarpenterProvider = {
  mode: 'existing',
  ownsKarpenter: false,
  usesInstalledNodePool: true,
  installsNothing: 'karpenter-mode existing builds and installs nothing',
  installRules: (): PermissionRule[] => [
    ['get,list', 'apps', 'deployments'],
    ['list', '', 'pods'],
    ['get', 'apiextensions.k8s.io', 'customresourcedefinitions'],
    ['get,list', KARPENTER, 'nodepools'],
  ],
  tools: () => [],
  preflight: async () => undefined,
  build: async () => {
    throw new StageFailure('karpenter-build does not apply to karpenter-mode existing');
  },
  install: validate,
  diagnose: async () => undefined,
  claimsOrphaned: () => false,
  remove: async () => [],
};
