import type * as k8s from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { formatConditions, isTrue, type WithConditions } from '../checks/conditions.js';
import { KARPENTER_MODE_ANNOTATION } from '../checks/liveness.js';
import { providerFor } from '../karpenter/index.js';
import { applyObject, readObject } from '../kube/apply.js';
import { NODEPOOLS } from '../kube/paths.js';
import { waitFor } from './wait.js';
import type { Kube } from '../kube/client.js';
import type { RunState } from '../types.js';
import { pass, StageFailure, type Stage } from './stage.js';

/** The manifests with the run's label added (so the run's objects can be found and told apart). Pure. */
export function labelled(manifests: Record<string, unknown>[], label: RunState['runLabel']): k8s.KubernetesObject[] {
  return manifests.map((m) => {
    const obj = structuredClone(m) as k8s.KubernetesObject;
    obj.metadata = { ...obj.metadata, labels: { ...obj.metadata?.labels, [label.key]: label.value } };
    return obj;
  });
}

/** Adds the label to spec.template.metadata.labels of a NodePool (in place). */
export function withTemplateLabel(pool: k8s.KubernetesObject, label: RunState['runLabel']): void {
  const p = pool as k8s.KubernetesObject & { spec?: { template?: { metadata?: { labels?: Record<string, string> } } } };
  p.spec ??= {};
  p.spec.template ??= {};
  p.spec.template.metadata ??= {};
  p.spec.template.metadata.labels = { ...p.spec.template.metadata.labels, [label.key]: label.value };
}

/**
 * The status KWOKNodeClass's CRD declares as its default (Ready=True). The apiserver does not
 * apply that default (the status subresource drops status on create), and Karpenter counts a
 * NodePool Ready, and provisions for it, only when its NodeClass is Ready: so the action sets it,
 * as the CRD intends. A JSON patch for the status subresource. Pure.
 */
export function kwokNodeClassReadyPatch(generation: number | undefined, now: Date): unknown[] {
  return [
    {
      op: 'add',
      path: '/status',
      value: {
        conditions: [
          {
            type: 'Ready',
            status: 'True',
            reason: 'Ready',
            message: '',
            lastTransitionTime: now.toISOString(),
            ...(generation ? { observedGeneration: generation } : {}),
          },
        ],
      },
    },
  ];
}

const isKwokNodeClass = (o: k8s.KubernetesObject) => o.kind === 'KWOKNodeClass' && (o.apiVersion ?? '').startsWith('karpenter.kwok.sh/');

/** Marks a KWOKNodeClass Ready unless something already set its Ready condition. */
async function ensureKwokNodeClassReady(kube: Kube, obj: k8s.KubernetesObject): Promise<string | undefined> {
  const current = (await readObject(kube, { apiVersion: obj.apiVersion!, kind: obj.kind!, metadata: { name: obj.metadata!.name! } })) as
    (k8s.KubernetesObject & WithConditions) | undefined;
  if (!current || current.status?.conditions?.some((c) => c.type === 'Ready')) return undefined;
  const [group, version] = obj.apiVersion!.split('/') as [string, string];
  await kube.custom.patchClusterCustomObjectStatus({
    group,
    version,
    plural: 'kwoknodeclasses',
    name: obj.metadata!.name!,
    body: kwokNodeClassReadyPatch(current.metadata?.generation, new Date()),
  });
  return `KWOKNodeClass ${obj.metadata!.name}: status Ready=True set (the CRD's declared default, which the apiserver does not apply)`;
}

/** `kubectl get -o yaml` as a person would read it: without managedFields. Pure. */
export function asYaml(obj: k8s.KubernetesObject): string {
  const { managedFields: _m, ...metadata } = obj.metadata ?? {};
  return stringify({ ...obj, metadata });
}

export const nodepoolStage: Stage = {
  name: 'nodepool',
  async run(ctx) {
    const { config, run } = ctx;
    const kube = ctx.kube();
    const name = config.nodePool.name;
    const notes: string[] = [];
    for (const obj of labelled(config.nodePool.manifests, run.runLabel)) {
      const ref = { apiVersion: obj.apiVersion!, kind: obj.kind!, metadata: { name: obj.metadata!.name!, namespace: obj.metadata?.namespace } };
      const before = await readObject(kube, ref);
      if (before && providerFor(config).usesInstalledNodePool) {
        // The cluster's own objects are tested as they are, not changed.
        notes.push(`${obj.kind} ${ref.metadata.name}: exists, used as is (karpenter-mode existing)`);
        continue;
      }
      // A NodePool this run creates stamps its run label on the NodeClaims and Nodes it makes, so
      // cleanup (also the post step, after the namespace is gone) and other runs tell them apart.
      // Not on a NodePool that existed: new template labels would make Karpenter drift its nodes.
      if (!before && obj.kind === 'NodePool') {
        withTemplateLabel(obj, run.runLabel);
        obj.metadata!.annotations = { ...obj.metadata!.annotations, [KARPENTER_MODE_ANNOTATION]: config.karpenterMode };
      }
      // Recorded before the request goes: an apply the stage's timeout cuts off may still reach
      // the server (a late create), and cleanup removes what is recorded (an absent one is skipped).
      if (!before && !ref.metadata.namespace) run.appliedClusterObjects.push({ apiVersion: ref.apiVersion, kind: ref.kind, name: ref.metadata.name });
      try {
        await applyObject(kube, obj);
      } catch (err) {
        if (ctx.signal.aborted)
          throw new StageFailure(
            `Expected ${obj.kind} ${ref.metadata.name} applied before the stage ended; the request was cut off unanswered (it may still reach the API server: cleanup removes it either way)`,
            'check the API server is answering writes (its latency, etcd) and the timeouts input for nodepool',
          );
        throw new StageFailure(
          `Expected ${obj.kind} ${ref.metadata.name} from ${config.nodePoolFile} to apply; the apiserver said: ${(err as Error).message}`,
          'check the nodepool file against the karpenter.sh/v1 schema (kubectl apply --dry-run=server -f)',
        );
      }
      notes.push(`${obj.kind} ${ref.metadata.name}: ${before ? 'updated (existed before; left in place at cleanup)' : 'created'} by server-side apply`);
      if (isKwokNodeClass(obj)) {
        const note = await ensureKwokNodeClassReady(kube, obj);
        if (note) notes.push(note);
      }
    }

    // Karpenter marks the NodePool Ready once it has seen it and its NodeClass: proof it will provision for it.
    const pool = await waitFor<k8s.KubernetesObject & WithConditions, k8s.KubernetesObject>(
      ctx,
      {
        path: NODEPOOLS,
        fieldSelector: `metadata.name=${name}`,
        describe: `NodePool ${name} Ready`,
        until: (items) => {
          const p = items.get(name);
          return p && isTrue(p, 'Ready') ? p : undefined;
        },
        state: (items) => formatConditions(items.get(name)),
      },
      {
        expected: `NodePool ${name} Ready (Karpenter reconciled it and its NodeClass)`,
        next: 'read the Karpenter log: a NodeClass it does not know, or a NodePool it rejects, shows there',
      },
    );
    ctx.evidence({ title: `NodePool ${name}`, command: `kubectl get nodepool ${name} -o yaml`, output: asYaml(pool) });
    ctx.evidence({ title: 'Applied', command: `kubectl apply --server-side -f ${config.nodePoolFile}`, output: notes.join('\n') });
    return pass(
      `NodePool ${name} Ready${config.nodePool.gpuLimit !== undefined ? ` (limit nvidia.com/gpu=${config.nodePool.gpuLimit})` : ''}; ${notes.length} object(s) applied or checked`,
    );
  },
};
