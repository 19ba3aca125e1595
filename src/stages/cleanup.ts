import * as k8s from '@kubernetes/client-node';
import { isRunNodeClaim, NODEPOOL_LABEL, type NodeClaim } from '../checks/capacity.js';
import { deleteObject, FIELD_MANAGER } from '../kube/apply.js';
import type { Kube } from '../kube/client.js';
import { eventsItem, nodeClaims, poolNodes } from './inspect.js';
import { collectionPath, NAMESPACES, NODECLAIMS, NODES } from '../kube/paths.js';
import { ApiError, getJson, rawRequest } from '../kube/raw.js';
import { probeUntil, waitFor, withSoftDeadline } from './wait.js';
import { providerFor } from '../karpenter/index.js';
import { runIdentity } from './identity.js';
import { unpinNodes } from './pin.js';
import { leasePath } from './heartbeat.js';
import { DO_NOT_DISRUPT } from '../checks/nplusone.js';
import type { RunState } from '../types.js';
import { pass, StageFailure, type Stage, type StageContext } from './stage.js';

/** The plural resource name of a kind, for the few kinds a run applies (NodePool, KWOKNodeClass, CRDs). Pure. */
export function pluralOf(kind: string): string {
  const k = kind.toLowerCase();
  if (k.endsWith('y')) return `${k.slice(0, -1)}ies`;
  if (k.endsWith('s')) return `${k}es`;
  return `${k}s`;
}

/** Waits until no object named `name` is left at `path` (finalizers done). */
function waitGone(ctx: StageContext, path: string, name: string, what: string): Promise<true> {
  return waitFor<k8s.KubernetesObject, true>(
    ctx,
    {
      path,
      fieldSelector: `metadata.name=${name}`,
      describe: `${what} gone`,
      until: (items) => (items.size === 0 ? true : undefined),
      state: (items) =>
        `${items.size} left${[...items.values()][0]?.metadata?.finalizers?.length ? ` (finalizers ${[...items.values()][0]!.metadata!.finalizers!.join(',')})` : ''}`,
    },
    {
      expected: `${what} deleted`,
      next: `check what holds it (kubectl get ${what.split(' ')[0]!.toLowerCase()} ${name} -o yaml: finalizers) and that Karpenter still runs`,
    },
  );
}

/**
 * True when the run cannot have created anything: neither preflight nor workload recorded a
 * baseline, the run made no Lease or namespace (just before the workload stage), and no install
 * step recorded an object, release or process. Cleanup then touches nothing, so
 * a run that failed early (cluster unreachable, no permissions) does not report "left behind"
 * for objects that never existed. Pure.
 */
export function createdNothing(run: RunState): boolean {
  return (
    run.baselineNodes === undefined &&
    run.namespaceCreatedAt === undefined &&
    run.leaseNamespace === undefined &&
    !run.pinnedNodes?.length &&
    run.appliedClusterObjects.length === 0 &&
    !run.karpenterPid &&
    run.helmReleases.length === 0
  );
}

/** How many objects of a CRD exist (0 when the CRD is gone or serves nothing). */
async function crdUsers(ctx: StageContext, name: string): Promise<number> {
  const kube = ctx.kube();
  let crd: k8s.V1CustomResourceDefinition;
  try {
    crd = await kube.apiext.readCustomResourceDefinition({ name });
  } catch {
    return 0;
  }
  const version = crd.spec.versions.find((v) => v.served)?.name;
  if (!version) return 0;
  const path = `/apis/${crd.spec.group}/${version}/${crd.spec.names.plural}`;
  // A CRD made moments ago answers 429 while its storage initialises: ask until it answers.
  return probeUntil(
    ctx,
    async () => {
      const r = await rawRequest(kube, path, { signal: ctx.signal });
      if (r.status === 404) return { result: 0, state: 'not served' };
      if (r.status !== 200) return { state: `HTTP ${r.status}: ${r.text.slice(0, 120)}` };
      return { result: ((r.body as { items?: unknown[] }).items ?? []).length, state: 'listed' };
    },
    { expected: `the objects of CRD ${name} listed`, next: 'check the apiserver is healthy' },
  );
}

/**
 * Nodes of this run's NodePool left without a NodeClaim (their claim vanished, e.g. with its
 * CRD): nothing will remove them once the NodePool is gone, so cleanup does. Returns how many.
 */
async function removeOrphanNodes(ctx: StageContext, pool: string): Promise<number> {
  const kube = ctx.kube();
  const nodes = (await kube.core.listNode({ labelSelector: `${NODEPOOL_LABEL}=${pool}` })).items;
  if (nodes.length === 0) return 0;
  for (const n of nodes) await kube.core.deleteNode({ name: n.metadata!.name! }).catch(() => undefined);
  await waitFor<k8s.V1Node, true>(
    ctx,
    {
      path: NODES,
      labelSelector: `${NODEPOOL_LABEL}=${pool}`,
      describe: `Nodes of NodePool ${pool} gone`,
      until: (items) => (items.size === 0 ? true : undefined),
    },
    {
      expected: `the ${nodes.length} leftover Node(s) of NodePool ${pool} deleted`,
      next: "check the nodes' finalizers (kubectl get nodes -l karpenter.sh/nodepool -o yaml)",
    },
  );
  return nodes.length;
}

/** Drops the finalizers of KWOK NodeClaims and of their Nodes, and deletes the Nodes (no Karpenter left to do it). */
async function releaseKwokClaims(kube: Kube, claims: NodeClaim[]): Promise<void> {
  const unfinalize = (apiVersion: string, kind: string, name: string) =>
    kube.objects
      .patch(
        { apiVersion, kind, metadata: { name, finalizers: null } } as unknown as k8s.KubernetesObject,
        undefined,
        undefined,
        FIELD_MANAGER,
        undefined,
        k8s.PatchStrategy.MergePatch,
      )
      .catch((e: unknown) => {
        if ((e as { code?: number }).code !== 404) throw e;
      });
  for (const c of claims) {
    const node = c.status?.nodeName;
    if (node) {
      await unfinalize('v1', 'Node', node);
      await rawRequest(kube, `${NODES}/${node}`, { method: 'DELETE' });
    }
    await unfinalize('karpenter.sh/v1', 'NodeClaim', c.metadata!.name!);
  }
}

/** DELETE of one object by its API path: false when it was gone already; throws on any other refusal. */
async function deletePath(kube: Kube, path: string): Promise<boolean> {
  const r = await rawRequest(kube, path, { method: 'DELETE' });
  if (r.status === 404) return false;
  if (r.status >= 300) throw new Error(`delete answered HTTP ${r.status}: ${r.text.slice(0, 200)}`);
  return true;
}

const ignore404 = (e: unknown) => {
  if (e instanceof ApiError && e.status === 404) return undefined;
  throw e;
};

export const cleanupStage: Stage = {
  name: 'cleanup',
  async run(stageCtx) {
    const ctx = withSoftDeadline(stageCtx, 'cleanup');
    const { config, run } = ctx;
    if (createdNothing(run)) return pass('nothing to remove: the run stopped before it created anything');
    const kube = ctx.kube();
    const done: string[] = [];
    const problems: string[] = [];
    const step = async (what: string, f: () => Promise<string | undefined>) => {
      try {
        const r = await f();
        if (r) done.push(r);
      } catch (e) {
        problems.push(`${what}: ${(e as Error).message}`);
      }
    };
    // Read before the namespace goes: claims without the run label are this run's when created since it.
    // The baseline NodeClaims an n-plus-one run made are the run's too: cleanup removes them.
    const id = await runIdentity(kube, config, run, { withBaseline: true }).catch(() => ({
      pool: config.nodePool.name,
      runLabel: run.runLabel,
      since: undefined,
    }));

    // n-plus-one: the baseline nodes the run pinned are released first, so that once the fill pods
    // go with the namespace Karpenter may remove the nodes the run made; a node pinned before the run keeps its annotation.
    if (run.pinnedNodes?.length)
      await step(`${DO_NOT_DISRUPT} annotations`, async () => {
        const unpinned = await unpinNodes(kube, run, () => ctx.checkpoint());
        return unpinned.length ? `${DO_NOT_DISRUPT} removed from ${unpinned.length} node(s) this run pinned (${unpinned.join(', ')})` : undefined;
      });

    // The namespace controller holds every namespace deletion 5 s before it starts
    // (namespaceDeletionGracePeriod): the delete (usually sent by consolidation already) is sent
    // first and waited for after the steps that do not need it gone, so those 5 s overlap them.
    let namespaceDeleted: (() => Promise<string | undefined>) | undefined;
    await step(`namespace ${run.namespace}`, async () => {
      if (!(await deletePath(kube, `${NAMESPACES}/${run.namespace}`))) return undefined;
      namespaceDeleted = async () => {
        await waitGone(ctx, NAMESPACES, run.namespace, `Namespace ${run.namespace}`);
        return `namespace ${run.namespace} deleted`;
      };
      return undefined;
    });

    await step('NodeClaims of this run', async () => {
      const list = await getJson<{ items: NodeClaim[] }>(kube, NODECLAIMS, { labelSelector: `${NODEPOOL_LABEL}=${id.pool}` }).catch(ignore404);
      const mine = (list?.items ?? []).filter((c) => isRunNodeClaim(c, id));
      if (mine.length === 0) return undefined;
      for (const c of mine) await rawRequest(kube, `${NODECLAIMS}/${c.metadata!.name}`, { method: 'DELETE' });
      // Process mode with this run's Karpenter gone (killed, or stopped by a main that could not
      // reach the cluster): nobody would run the finalizers. KWOK claims have nothing real behind
      // them, so they and their Nodes are released here.
      const orphaned = providerFor(config).claimsOrphaned(run);
      if (orphaned) await releaseKwokClaims(kube, mine);
      await waitFor<NodeClaim, true>(
        ctx,
        {
          path: NODECLAIMS,
          labelSelector: `${NODEPOOL_LABEL}=${id.pool}`,
          describe: "this run's NodeClaims gone",
          until: (items) => ([...items.values()].some((c) => isRunNodeClaim(c, id)) ? undefined : true),
        },
        { expected: `this run's ${mine.length} NodeClaim(s) deleted`, next: 'Karpenter must run to remove their finalizers: check its log' },
      );
      return `${mine.length} NodeClaim(s) deleted${orphaned ? " (finalizers released: this run's Karpenter process was gone)" : ''}`;
    });

    if (config.keepInstalled && !run.cancelled) {
      // Later steps of the job use them (keep-installed); the post step then finds nothing of
      // them in the run state. A cancelled run keeps nothing.
      run.kept = [...run.helmReleases.map((r) => `Helm release ${r.namespace}/${r.name}`), ...run.appliedClusterObjects.map((o) => `${o.kind} ${o.name}`)];
      run.helmReleases = [];
      run.appliedClusterObjects = [];
      ctx.checkpoint();
      if (run.kept.length) {
        done.push(`kept installed for later steps (keep-installed): ${run.kept.join(', ')}`);
        ctx.evidence({ title: 'Kept installed (keep-installed)', command: 'helm list -A; kubectl get crd,nodepools', output: run.kept.join('\n') });
      }
    }
    // The NodePool and NodeClass go while Karpenter still runs (their orphan nodes carry its
    // finalizer); the CRDs and the release namespace after Karpenter and its charts (Helm never
    // removes a chart's CRDs, and a CRD outliving its chart's objects is what it leaves behind).
    const lastKinds = new Set(['CustomResourceDefinition', 'Namespace']);
    const removeObjects = async (which: (kind: string) => boolean) => {
      const removed: string[] = [];
      for (const o of [...run.appliedClusterObjects].reverse()) {
        if (!which(o.kind)) continue;
        const users = o.kind === 'CustomResourceDefinition' ? await crdUsers(ctx, o.name) : 0;
        if (users > 0) {
          // Another run on this cluster still has objects of this kind: deleting the CRD would delete them.
          removed.push(`CustomResourceDefinition/${o.name} left in place (${users} object(s) of other runs use it)`);
        } else {
          // Recorded before its apply was sent, an object may never have been made: nothing to say then.
          if (await deleteObject(kube, { apiVersion: o.apiVersion, kind: o.kind, metadata: { name: o.name } })) {
            await waitGone(ctx, collectionPath(o.apiVersion, pluralOf(o.kind)), o.name, `${o.kind} ${o.name}`);
            removed.push(`${o.kind}/${o.name}`);
          }
          if (o.kind === 'NodePool') {
            const orphans = await removeOrphanNodes(ctx, o.name);
            if (orphans) removed.push(`${orphans} orphan Node(s) of NodePool ${o.name}`);
          }
        }
        run.appliedClusterObjects = run.appliedClusterObjects.filter((x) => x !== o);
      }
      return removed.length ? `deleted ${removed.join(', ')}` : undefined;
    };
    await step('cluster objects', () => removeObjects((kind) => !lastKinds.has(kind)));
    await step(`Karpenter (${config.karpenterMode} mode)`, async () => {
      const removed = await providerFor(config).remove(run, config, ctx.signal);
      return removed.length ? removed.join(', ') : undefined;
    });
    // Before the CRDs: the namespace controller discovers every namespaced resource while it empties the namespace.
    if (namespaceDeleted) await step(`namespace ${run.namespace}`, namespaceDeleted);
    await step('CRDs and namespaces', () => removeObjects((kind) => lastKinds.has(kind)));
    // Last: until nothing of the run is left, other runs must see it live, not as a leftover.
    const leaseNamespace = run.leaseNamespace;
    if (leaseNamespace)
      await step(`Lease ${leaseNamespace}/${run.namespace}`, async () =>
        (await deletePath(kube, leasePath(run, leaseNamespace))) ? `Lease ${leaseNamespace}/${run.namespace} deleted` : undefined,
      );

    ctx.evidence({
      title: 'Cleanup',
      command: `kubectl get namespace ${run.namespace}; kubectl get nodeclaims,leases -A -l ${run.runLabel.key}=${run.runLabel.value}`,
      output: [...done, ...problems.map((p) => `FAILED ${p}`)].join('\n') || 'nothing to remove',
    });
    if (problems.length) {
      throw new StageFailure(
        `Expected everything this run created to be removed; left behind: ${problems.join('; ')}`,
        `remove them by hand (kubectl delete namespace ${run.namespace}; kubectl delete nodeclaims -l ${run.runLabel.key}=${run.runLabel.value}${leaseNamespace ? `; kubectl delete lease -n ${leaseNamespace} ${run.namespace}` : ''})`,
      );
    }
    return pass(done.length ? done.join('; ') : 'nothing left to remove');
  },
  async diagnose(ctx) {
    const kube = ctx.kube();
    const pool = ctx.config.nodePool.name;
    ctx.diagnostic(await eventsItem('Events in the run namespace', kube, ctx.run.namespace));
    ctx.diagnostic(await nodeClaims(kube, pool));
    ctx.diagnostic(await poolNodes(kube, pool));
  },
};
