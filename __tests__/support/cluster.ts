// What "the cluster as it was found" means for the tests: the objects a run may create.
import * as k8s from '@kubernetes/client-node';
import { deleteObject, type ObjectRef } from '../../src/kube/apply.js';
import { connect, type Kube } from '../../src/kube/client.js';
import { collectionPath } from '../../src/kube/paths.js';
import { pluralOf } from '../../src/stages/cleanup.js';
import { RUN_LABEL_KEY } from '../../src/state.js';
import { ApiError, rawRequest } from '../../src/kube/raw.js';
import { watchUntil } from '../../src/kube/watch.js';

export interface ClusterSnapshot {
  runNamespaces: string[];
  /** The runs' Leases (run label), in any namespace: namespace/name. */
  runLeases: string[];
  nodeClaims: string[];
  poolNodes: string[];
  nodePools: string[];
}

export function bedKube(kubeconfig: string): Kube {
  return connect({ kubeconfig });
}

export async function snapshot(kube: Kube, pool = 'gpu'): Promise<ClusterSnapshot> {
  const namespaces = await kube.core.listNamespace({ labelSelector: RUN_LABEL_KEY });
  // Before any run installed Karpenter's CRDs there are no NodeClaims (the API answers 404).
  const claims = (await kube.custom.listClusterCustomObject({ group: 'karpenter.sh', version: 'v1', plural: 'nodeclaims' }).catch(() => ({ items: [] }))) as {
    items: k8s.KubernetesObject[];
  };
  const nodes = await kube.core.listNode({ labelSelector: `karpenter.sh/nodepool=${pool}` });
  const pools = (await kube.custom.listClusterCustomObject({ group: 'karpenter.sh', version: 'v1', plural: 'nodepools' }).catch(() => ({ items: [] }))) as {
    items: k8s.KubernetesObject[];
  };
  const leases = await rawRequest(kube, '/apis/coordination.k8s.io/v1/leases', { query: { labelSelector: RUN_LABEL_KEY } });
  if (leases.status !== 200) throw new Error(`listing Leases answered HTTP ${leases.status}: ${leases.text}`);
  const names = (items: k8s.KubernetesObject[]) => items.map((o) => o.metadata!.name!).sort();
  return {
    // A namespace being deleted is not yet gone, so it still counts.
    runNamespaces: names(namespaces.items),
    runLeases: (leases.body as { items: k8s.KubernetesObject[] }).items.map((o) => `${o.metadata!.namespace}/${o.metadata!.name}`).sort(),
    nodeClaims: names(claims.items),
    poolNodes: names(nodes.items),
    nodePools: names(pools.items),
  };
}

/** True while a process with this pid exists. */
export function alive(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Deletes the namespaces and resolves once they are gone (watched), so the next file's snapshot does not see them. */
export async function deleteNamespaces(kube: Kube, names: string[]): Promise<void> {
  await deleteClusterObjects(
    kube,
    names.map((name) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } })),
  );
}

/**
 * Deletes cluster-scoped objects (absent ones are skipped) and resolves once each is gone
 * (watched: a CRD or namespace outlives its DELETE until its finalizers ran), so the next file
 * does not find them terminating.
 */
export async function deleteClusterObjects(kube: Kube, refs: ObjectRef[]): Promise<void> {
  for (const ref of refs) await deleteObject(kube, ref);
  for (const ref of refs) {
    await watchUntil<k8s.KubernetesObject, true>(kube, {
      path: collectionPath(ref.apiVersion, pluralOf(ref.kind)),
      fieldSelector: `metadata.name=${ref.metadata.name}`,
      describe: `${ref.kind} ${ref.metadata.name} gone`,
      signal: AbortSignal.timeout(120_000),
      until: (items) => (items.size === 0 ? true : undefined),
    }).catch((e: unknown) => {
      // Its kind is no longer served (its CRD, deleted above, is gone): no object of it is left.
      if (!(e instanceof ApiError && e.status === 404)) throw e;
    });
  }
}
