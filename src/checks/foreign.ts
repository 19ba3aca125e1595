// Karpenter objects the run did not make: another installation is tested as it is (existing
// mode), never installed over. Pure.
import type * as k8s from '@kubernetes/client-node';

/** The CRDs an installing mode applies. */
export const KARPENTER_CRDS = ['nodepools.karpenter.sh', 'nodeclaims.karpenter.sh', 'nodeoverlays.karpenter.sh', 'kwoknodeclasses.karpenter.kwok.sh'];

export interface FoundKarpenter {
  crds: k8s.KubernetesObject[];
  deployments: k8s.KubernetesObject[];
  nodePools: k8s.KubernetesObject[];
}

/**
 * Objects of a Karpenter installation that no run of this action made (they do not carry the
 * run label key), as "kind name (who manages it)". A run's own leftovers and a concurrent
 * run's objects carry the key: preflight's leftover and liveness checks deal with those.
 */
export function foreignKarpenter(found: FoundKarpenter, runLabelKey: string): string[] {
  const ours = (o: k8s.KubernetesObject) => o.metadata?.labels?.[runLabelKey] !== undefined;
  const who = (o: k8s.KubernetesObject) => {
    const l = o.metadata?.labels ?? {};
    const manager = l['app.kubernetes.io/managed-by'] ?? o.metadata?.managedFields?.[0]?.manager;
    // One being deleted (an earlier installation's, its finalizers still running) is not a live one: say so.
    const deleted = o.metadata?.deletionTimestamp ? `being deleted since ${new Date(o.metadata.deletionTimestamp).toISOString()}` : undefined;
    const notes = [manager && `managed by ${manager}`, deleted].filter(Boolean);
    return notes.length ? ` (${notes.join('; ')})` : '';
  };
  const ns = (o: k8s.KubernetesObject) => (o.metadata?.namespace ? `${o.metadata.namespace}/` : '');
  return [
    ...found.crds.filter((c) => KARPENTER_CRDS.includes(c.metadata!.name!) && !ours(c)).map((c) => `CustomResourceDefinition ${c.metadata!.name}${who(c)}`),
    ...found.deployments.filter((d) => !ours(d)).map((d) => `Deployment ${ns(d)}${d.metadata!.name}${who(d)}`),
    ...found.nodePools.filter((p) => !ours(p)).map((p) => `NodePool ${p.metadata!.name}${who(p)}`),
  ];
}
