import type * as k8s from '@kubernetes/client-node';
import { NODEPOOL_LABEL } from '../checks/capacity.js';
import { DO_NOT_DISRUPT, PINNED_BY_LABEL } from '../checks/nplusone.js';
import { unpinNode } from './pin.js';
import { liveRuns, runsWithOwnKarpenter, serverTime, staleObjects, type Lease } from '../checks/liveness.js';
import { isTrue, type WithConditions } from '../checks/conditions.js';
import { foreignKarpenter, KARPENTER_CRDS } from '../checks/foreign.js';
import { KARPENTER_SELECTOR } from '../karpenter/existing.js';
import { describePermission, needsExternalMetrics, unsettledByRules, type Permission } from '../checks/permissions.js';
import { permissionsFor, providerFor } from '../karpenter/index.js';
import type { Kube } from '../kube/client.js';
import { apiServiceStatus } from './inspect.js';
import { EXTERNAL_METRICS_APISERVICE, leasesIn, NAMESPACES, NODECLAIMS, NODEPOOLS } from '../kube/paths.js';
import { ApiError, getJson, rawRequest } from '../kube/raw.js';
import { isConnectionError, isTlsError } from '../kube/transient.js';
import { pass, StageFailure, type Stage, type StageContext } from './stage.js';

/**
 * The rules the identity holds in `namespace`, from one SelfSubjectRulesReview; undefined when
 * the server will not say (an old or restricted server: every permission is then asked alone).
 */
async function rulesReview(kube: Kube, namespace: string): Promise<k8s.V1SubjectRulesReviewStatus | undefined> {
  try {
    const r = await kube.authz.createSelfSubjectRulesReview({
      body: { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectRulesReview', spec: { namespace } },
    });
    return r.status;
  } catch {
    return undefined;
  }
}

/**
 * The permissions denied to the identity, and how many requests it took. One
 * SelfSubjectRulesReview in the run's namespace settles what the authorizers can list: that
 * namespace does not exist yet, so no RoleBinding can be in it and every rule it shows is
 * cluster-wide, true for the cluster-wide checks and for the namespaced ones alike. The rest
 * (everything, when the review is incomplete) get a SelfSubjectAccessReview each, in parallel,
 * and only those decide a denial.
 */
export async function deniedPermissions(kube: Kube, perms: Permission[], namespace: string): Promise<{ denied: Permission[]; reviews: number }> {
  const unsettled = unsettledByRules(perms, await rulesReview(kube, namespace));
  const results = await Promise.all(
    unsettled.map(async (p) => {
      const r = await kube.authz.createSelfSubjectAccessReview({
        body: {
          apiVersion: 'authorization.k8s.io/v1',
          kind: 'SelfSubjectAccessReview',
          spec: { resourceAttributes: { verb: p.verb, group: p.group, resource: p.resource, subresource: p.subresource, namespace: p.namespace } },
        },
      });
      return r.status?.allowed ? undefined : p;
    }),
  );
  return { denied: results.filter((p): p is Permission => p !== undefined), reviews: 1 + unsettled.length };
}

/** Why a request failed below HTTP (refused, TLS), which fetch keeps in `cause`: " (<why>)" or "". Pure. */
export function causeOf(e: unknown): string {
  const cause = (e as { cause?: { message?: string; code?: string } }).cause;
  const why = cause?.message ?? cause?.code;
  return why ? ` (${why})` : '';
}

async function reachable(ctx: StageContext): Promise<string> {
  const server = ctx.kube().kc.getCurrentCluster()?.server ?? '(no current cluster)';
  try {
    const v = await ctx.kube().version.getCode();
    ctx.run.versions.kubernetes = v.gitVersion;
    ctx.evidence({ title: 'Server version', command: 'kubectl version', output: `Server Version: ${v.gitVersion} (${v.platform})\nServer: ${server}` });
    return v.gitVersion;
  } catch (e) {
    // Known down from the first contact: the diagnostics and cleanup that follow ask once each
    // instead of waiting out the restart window (src/kube/transient.ts).
    if (isConnectionError(e)) ctx.kube().reach.downSince ??= Date.now();
    if (isTlsError(e)) {
      throw new StageFailure(
        `Expected a trusted TLS connection to the Kubernetes API at ${server}; ${(e as Error).message}`,
        "check the kubeconfig's certificate-authority(-data) for this server, and that the context points at the cluster you mean",
      );
    }
    throw new StageFailure(
      `Expected the Kubernetes API at ${server} to answer; it did not: ${(e as Error).message}${causeOf(e)}`,
      'check the kubeconfig/context inputs, the cluster is running, and the runner can reach it',
    );
  }
}

/** Karpenter objects with the run label (or all, with selector ''); none when Karpenter's CRDs are not installed yet. */
async function labelledKarpenterObjects(ctx: StageContext, path: string, labelSelector = ctx.run.runLabel.key): Promise<k8s.KubernetesObject[]> {
  try {
    return (await getJson<{ items: k8s.KubernetesObject[] }>(ctx.kube(), path, { labelSelector })).items;
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) return [];
    throw e;
  }
}

/** The runs' Leases (run label, in the lease namespace) and the API server's time of the answer (its Date header): liveness is judged on the server's clock. */
async function runLeases(ctx: StageContext): Promise<{ leases: Lease[]; serverNow: number }> {
  const path = leasesIn(ctx.config.leaseNamespace);
  const r = await rawRequest(ctx.kube(), path, { query: { labelSelector: ctx.run.runLabel.key }, signal: ctx.signal });
  if (r.status !== 200) throw new ApiError(r.status, path, r.text);
  return { leases: (r.body as { items: Lease[] }).items, serverNow: serverTime(r.headers.date, Date.now()) };
}

/** The lease namespace exists when the run will make its Lease there (the workload stage): checked before anything changes. */
async function leaseNamespaceFound(ctx: StageContext): Promise<void> {
  const ns = ctx.config.leaseNamespace;
  if (!ctx.config.stages.includes('workload')) return;
  const r = await rawRequest(ctx.kube(), `${NAMESPACES}/${ns}`, { signal: ctx.signal });
  if (r.status === 200) return;
  throw new StageFailure(
    `Expected namespace ${ns} (input lease-namespace), where the run keeps its Lease, to exist; the API answered HTTP ${r.status}`,
    `set lease-namespace to an existing namespace where the identity may create leases.coordination.k8s.io, or create namespace ${ns}; nothing was changed`,
  );
}

/**
 * Leftovers of earlier runs (namespaces, NodeClaims, Leases and node pins labelled with another
 * run id whose run has no Lease renewed within the stale window): reported, removed when asked.
 * A run still going on (two runs at once) is neither reported nor touched.
 */
async function staleLeftovers(ctx: StageContext): Promise<string> {
  const kube = ctx.kube();
  const { runLabel } = ctx.run;
  const { key } = runLabel;
  const [allNamespaces, pools, allClaims, { leases, serverNow }, pinned] = await Promise.all([
    kube.core.listNamespace({ labelSelector: key }).then((l) => l.items),
    labelledKarpenterObjects(ctx, NODEPOOLS),
    labelledKarpenterObjects(ctx, NODECLAIMS),
    runLeases(ctx),
    kube.core.listNode({ labelSelector: PINNED_BY_LABEL }).then((l) => l.items),
  ]);
  const carriers = [...allNamespaces, ...pools];
  const live = liveRuns(leases, key, serverNow);
  live.delete(runLabel.value);
  if (live.size > 0) ctx.info(`Runs going on in this cluster (not leftovers): ${[...live].sort().join(', ')}`);
  await providerFor(ctx.config).preflight(ctx, { runsWithOwnKarpenter: runsWithOwnKarpenter(carriers, key, live) });
  const namespaces = staleObjects(allNamespaces, runLabel, live);
  const claims = staleObjects(allClaims, runLabel, live);
  const staleLeases = staleObjects(leases, runLabel, live);
  // n-plus-one pins (do-not-disrupt) of a run that died before its cleanup: the node stays, the pin goes.
  const stalePins = staleObjects(pinned, { key: PINNED_BY_LABEL, value: runLabel.value }, live);
  const leaseNamespace = ctx.config.leaseNamespace;
  const names = [
    ...namespaces.map((n) => `namespace/${n.metadata?.name}`),
    ...claims.map((c) => `nodeclaim/${c.metadata?.name}`),
    ...staleLeases.map((l) => `lease/${leaseNamespace}/${l.metadata?.name}`),
    ...stalePins.map((n) => `node/${n.metadata?.name} (${DO_NOT_DISRUPT} of run ${n.metadata?.labels?.[PINNED_BY_LABEL]})`),
  ];
  if (names.length === 0) return 'no leftovers of earlier runs';
  ctx.evidence({
    title: 'Leftovers of earlier runs',
    command: `kubectl get namespaces,nodeclaims -l ${key}; kubectl get leases -n ${leaseNamespace} -l ${key}; kubectl get nodes -l ${PINNED_BY_LABEL}`,
    output: names.join('\n'),
  });
  if (!ctx.config.cleanupStale) {
    ctx.warning(`Leftovers of earlier runs found (${names.join(', ')}); set cleanup-stale: true to remove them`);
    return `${names.length} leftover(s) of earlier runs reported`;
  }
  for (const n of namespaces) await kube.core.deleteNamespace({ name: n.metadata!.name! }).catch(() => undefined);
  for (const c of claims) await rawRequest(kube, `${NODECLAIMS}/${c.metadata!.name}`, { method: 'DELETE' });
  for (const l of staleLeases) await rawRequest(kube, `${leasesIn(leaseNamespace)}/${l.metadata!.name}`, { method: 'DELETE' });
  for (const n of stalePins) await unpinNode(kube, n.metadata!.name!).catch(() => undefined);
  ctx.info(`Deleted leftovers of earlier runs: ${names.join(', ')}`);
  return `${names.length} leftover(s) of earlier runs deleted`;
}

/**
 * A Karpenter installation the run did not make (CRDs, controller, NodePools): in existing mode
 * the thing under test, recorded and left untouched; in the installing modes a reason to stop
 * before anything changes (applying over it would take it over, and a second Karpenter would
 * act on its NodePools).
 */
async function karpenterNotOurs(ctx: StageContext): Promise<string[]> {
  if (!ctx.config.stages.includes('karpenter-install')) return [];
  const kube = ctx.kube();
  const [crds, deployments, nodePools] = await Promise.all([
    kube.apiext.listCustomResourceDefinition().then((l) => l.items as k8s.KubernetesObject[]),
    kube.apps.listDeploymentForAllNamespaces({ labelSelector: KARPENTER_SELECTOR }).then((l) => l.items as k8s.KubernetesObject[]),
    labelledKarpenterObjects(ctx, NODEPOOLS, ''),
  ]);
  const foreign = foreignKarpenter({ crds, deployments, nodePools }, ctx.run.runLabel.key);
  if (foreign.length === 0) return [];
  const provider = providerFor(ctx.config);
  ctx.evidence({
    title: 'Karpenter objects that existed before the run (left untouched)',
    command: `kubectl get crd ${KARPENTER_CRDS.join(' ')}; kubectl get deploy -A -l ${KARPENTER_SELECTOR}; kubectl get nodepools`,
    output: foreign.join('\n'),
  });
  if (!provider.usesInstalledNodePool) {
    throw new StageFailure(
      `Expected no Karpenter installation other than this action's before installing one (karpenter-mode ${ctx.config.karpenterMode}); found ${foreign.join(', ')}`,
      'test the installed Karpenter with karpenter-mode: existing, or remove it first (an object being deleted is gone once its finalizers have run: re-run then); nothing was changed',
    );
  }
  return foreign;
}

export const preflightStage: Stage = {
  name: 'preflight',
  async run(ctx) {
    const { config, run } = ctx;
    const kube = ctx.kube();
    const version = await reachable(ctx);

    const perms = permissionsFor(config, run.namespace);
    const { denied, reviews } = await deniedPermissions(kube, perms, run.namespace);
    ctx.evidence({
      title: 'Permissions (SelfSubjectRulesReview, then SelfSubjectAccessReview for what it does not show)',
      command: `kubectl auth can-i --list -n ${run.namespace}; kubectl auth can-i <verb> <resource> [-n <namespace>]`,
      output: `${perms.length - denied.length}/${perms.length} allowed (${reviews} review request(s))${denied.length ? `\ndenied:\n${denied.map(describePermission).join('\n')}` : ''}`,
    });
    if (denied.length > 0) {
      throw new StageFailure(
        `Expected every permission the selected stages need; ${denied.length} denied:\n${denied.map(describePermission).join('\n')}`,
        'grant these verbs to the identity of the kubeconfig (see the RBAC in the README), or select fewer stages',
      );
    }

    if (needsExternalMetrics(config)) {
      const item = await apiServiceStatus(kube);
      ctx.evidence(item);
      let available: boolean;
      try {
        available = isTrue((await kube.apiregistration.readAPIService({ name: EXTERNAL_METRICS_APISERVICE })) as WithConditions, 'Available');
      } catch {
        available = false;
      }
      if (!available) {
        throw new StageFailure(
          `Expected APIService ${EXTERNAL_METRICS_APISERVICE} Available; saw: ${item.output}`,
          'check the metrics adapter (prometheus-adapter) is running and its Service reachable, or use scenario: pending-pods',
        );
      }
    }

    await leaseNamespaceFound(ctx);
    const foreign = await karpenterNotOurs(ctx);
    const stale = await staleLeftovers(ctx);
    const selector = `${NODEPOOL_LABEL}=${config.nodePool.name}`;
    const baseline = (await kube.core.listNode({ labelSelector: selector })).items;
    run.baselineNodes = baseline.length;
    // Identities, not a count: consolidation checks these very nodes are the ones left (a node being deleted is not baseline).
    run.baselineNodeIds = baseline.filter((n) => !n.metadata?.deletionTimestamp).map((n) => ({ name: n.metadata!.name!, uid: n.metadata!.uid! }));
    ctx.evidence({
      title: 'Baseline nodes of the NodePool',
      command: `kubectl get nodes -l ${selector}`,
      output: baseline.map((n) => n.metadata?.name).join('\n') || '(none)',
    });
    return pass(
      `Kubernetes ${version}; ${perms.length} permissions allowed;${foreign.length ? ` installed Karpenter found (${foreign.length} objects, left untouched);` : ''} baseline ${baseline.length} node(s) in NodePool ${config.nodePool.name}; ${stale}`,
    );
  },
  async diagnose(ctx) {
    if (needsExternalMetrics(ctx.config)) ctx.diagnostic(await apiServiceStatus(ctx.kube()));
  },
};
