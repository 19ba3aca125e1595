import type * as k8s from '@kubernetes/client-node';
import { formatIds, judgeBaseline, type BaselineVerdict } from '../checks/baseline.js';
import { consolidationState, isRunNodeClaim, NODEPOOL_LABEL, type NodeClaim } from '../checks/capacity.js';
import { iso } from '../checks/conditions.js';
import { WORKLOAD_NAME } from '../checks/workload.js';
import { karpenterLogs, nodeClaims, nodePool, poolNodes } from './inspect.js';
import { hpasIn, NAMESPACES, NODECLAIMS, NODES } from '../kube/paths.js';
import { rawRequest } from '../kube/raw.js';
import { allOrNothing, waitFor, withSoftDeadline } from './wait.js';
import { karpenterLogTail } from '../tools/karpenter-process.js';
import { runIdentity } from './identity.js';
import { holdSteady } from './steady.js';
import { pass, StageFailure, type Stage, type StageContext } from './stage.js';

/** Deletes the HPA and the Deployment (foreground, so the cluster stamps deletionTimestamp); returns that time. */
async function deleteWorkload(ctx: StageContext): Promise<{ at: string; source: string }> {
  const kube = ctx.kube();
  const ns = ctx.run.namespace;
  await rawRequest(kube, `${hpasIn(ns)}/${WORKLOAD_NAME}`, { method: 'DELETE' });
  const r = await rawRequest(kube, `/apis/apps/v1/namespaces/${ns}/deployments/${WORKLOAD_NAME}`, {
    method: 'DELETE',
    query: { propagationPolicy: 'Foreground' },
  });
  const ts = iso((r.body as k8s.V1Deployment | undefined)?.metadata?.deletionTimestamp);
  if (r.status >= 300 && r.status !== 404)
    throw new StageFailure(
      `Expected to delete Deployment ${WORKLOAD_NAME}; the API answered HTTP ${r.status}: ${r.text.slice(0, 200)}`,
      'check the delete permission on deployments in the run namespace',
    );
  // The namespace goes too, now: its removal (the namespace controller waits 5 s before it starts)
  // then overlaps the consolidation wait instead of adding to cleanup, which still waits for it.
  // The run's Lease is elsewhere (src/stages/heartbeat.ts). n-plus-one keeps it: its fill pods
  // hold the baseline N the pool must come back to.
  const withNamespace = ctx.config.scenario !== 'n-plus-one';
  if (withNamespace) await rawRequest(kube, `${NAMESPACES}/${ns}`, { method: 'DELETE' });
  ctx.evidence({
    title: 'Workload deleted',
    command: `kubectl delete deployment,hpa ${WORKLOAD_NAME} -n ${ns} --cascade=foreground${withNamespace ? ` && kubectl delete namespace ${ns} --wait=false` : ''}`,
    output: `HTTP ${r.status}; deletionTimestamp ${ts ?? '(gone at once)'}`,
  });
  return ts
    ? { at: ts, source: `Deployment ${WORKLOAD_NAME} .metadata.deletionTimestamp` }
    : { at: new Date().toISOString(), source: 'Deployment delete (request time)' };
}

export const consolidationStage: Stage = {
  name: 'consolidation',
  skipReason: (config) => (config.consolidation === 'skip' ? 'consolidation: skip' : undefined),
  async run(stageCtx) {
    const ctx = withSoftDeadline(stageCtx, 'consolidation');
    const { config, run } = ctx;
    const kube = ctx.kube();
    const pool = config.nodePool.name;
    const ids = run.baselineNodeIds;
    const baseline = ids?.length ?? run.baselineNodes ?? 0;
    const id = await runIdentity(kube, config, run);
    const deleted = await deleteWorkload(ctx);
    ctx.mark({ event: 'workload-deleted', at: deleted.at, source: deleted.source, observedAt: new Date().toISOString() });

    let lastGone: { at: string; name: string; observedAt: string } | undefined;
    const noteGone = (o: k8s.KubernetesObject, kind: string, receivedAt: Date) => {
      const at = iso(o.metadata?.deletionTimestamp) ?? receivedAt.toISOString();
      if (!lastGone || at > lastGone.at) lastGone = { at, name: `${kind} ${o.metadata?.name}`, observedAt: receivedAt.toISOString() };
    };
    let claimsLeft = -1;
    let nodesLeft = -1;
    let identity: BaselineVerdict | undefined;
    const state = () =>
      `${consolidationState(nodesLeft < 0 ? Infinity : nodesLeft, baseline, claimsLeft < 0 ? Infinity : claimsLeft).detail}${identity ? `; ${identity.detail}` : ''}`;
    const story = {
      expected: `NodePool ${pool} back to its baseline of ${baseline} node(s)${ids?.length ? ` (exactly ${formatIds(ids)})` : ''} and this run's NodeClaims gone`,
      next: `check the NodePool's disruption settings (consolidationPolicy, consolidateAfter, budgets) and Karpenter's log (diagnostics); set consolidation: warn to accept a pool that does not shrink`,
    };
    try {
      // Both watches end together: a baseline node removed fails the stage at once, not after the other's wait.
      await allOrNothing(ctx.signal, [
        (signal) =>
          waitFor<NodeClaim, true>(
            { ...ctx, signal },
            {
              path: NODECLAIMS,
              labelSelector: `${NODEPOOL_LABEL}=${pool}`,
              describe: `this run's NodeClaims gone`,
              state,
              until: (items, ev) => {
                if (ev?.type === 'DELETED' && isRunNodeClaim(ev.object, id)) noteGone(ev.object, 'NodeClaim', ev.receivedAt);
                claimsLeft = [...items.values()].filter((c) => isRunNodeClaim(c, id)).length;
                return claimsLeft === 0 ? true : undefined;
              },
            },
            story,
          ),
        (signal) =>
          waitFor<k8s.V1Node, true>(
            { ...ctx, signal },
            {
              path: NODES,
              labelSelector: `${NODEPOOL_LABEL}=${pool}`,
              describe: ids ? `NodePool ${pool} back to exactly its baseline nodes` : `NodePool ${pool} back to ${baseline} node(s)`,
              state,
              until: (items, ev) => {
                if (ev?.type === 'DELETED') noteGone(ev.object, 'Node', ev.receivedAt);
                nodesLeft = items.size;
                if (!ids) return nodesLeft <= baseline ? true : undefined;
                identity = judgeBaseline(ids, items.values());
                // A baseline node removed (or replaced) never comes back: Karpenter consolidated a node the run did not make.
                if (identity.gone.length) throw new BaselineLost(pool, identity);
                return identity.ok ? true : undefined;
              },
            },
            story,
          ),
      ]);
    } catch (e) {
      if (e instanceof StageFailure && !(e instanceof BaselineLost) && config.consolidation === 'warn') {
        ctx.warning(`consolidation (warn): ${e.message}`);
        ctx.evidence({
          title: 'Warning: pool not back to baseline (consolidation: warn)',
          command: `kubectl get nodes,nodeclaims -l ${NODEPOOL_LABEL}=${pool}`,
          output: e.message,
        });
        return pass(`not back to baseline (${state()}); accepted because consolidation: warn`);
      }
      throw e;
    }
    if (lastGone)
      ctx.mark({
        event: 'last-node-gone',
        at: lastGone.at,
        source: `${lastGone.name} .metadata.deletionTimestamp (last removed)`,
        observedAt: lastGone.observedAt,
      });
    ctx.evidence({ title: 'Pool back to baseline', command: `kubectl get nodes,nodeclaims -l ${NODEPOOL_LABEL}=${pool}`, output: state() });
    const steady = await holdSteady(ctx, {
      pool,
      windowMs: config.stabilityWindowMs,
      after: 'after scale-in',
      expectUids: ids ? new Set(ids.map((n) => n.uid)) : undefined,
    });
    const held = steady ? `; held ${steady.windowMs / 1000} s without change` : '';
    if (config.scenario === 'n-plus-one')
      return pass(
        `trigger deleted; NodePool ${pool} back to exactly N = ${baseline} node(s), the baseline's same UIDs (${(ids ?? []).map((n) => n.name).join(', ')}), still pinned and filled; the trigger's NodeClaims gone${held}`,
      );
    return pass(
      ids
        ? `NodePool ${pool} back to exactly its ${baseline} baseline node(s), same UIDs; this run's NodeClaims gone${held}`
        : `NodePool ${pool} back to ${baseline} node(s); this run's NodeClaims gone${held}`,
    );
  },
  async diagnose(ctx) {
    const kube = ctx.kube();
    const pool = ctx.config.nodePool.name;
    ctx.diagnostic(await poolNodes(kube, pool));
    ctx.diagnostic(await nodeClaims(kube, pool));
    ctx.diagnostic(await nodePool(kube, pool));
    ctx.diagnostic(await karpenterLogs(kube, ctx.run, karpenterLogTail));
  },
};

/** A baseline node removed or replaced during the run: a failure also under consolidation: warn (the pool went below what the run found). */
class BaselineLost extends StageFailure {
  constructor(pool: string, v: BaselineVerdict) {
    super(
      `Expected the NodePool's baseline nodes to stay while this run's nodes go; ${v.gone.map((g) => `baseline node ${g.node.name} (uid ${g.node.uid}) ${g.how}`).join('; ')}${v.extra.length ? `, while ${v.extra.map((x) => x.name).join(', ')} remain(s)` : ''}`,
      `Karpenter disrupted a node that existed before the run (consolidation chose it over the run's, or drift/expiry replaced it): pin baseline nodes with the karpenter.sh/do-not-disrupt annotation, and read Karpenter's log (diagnostics) for the disruption decision of NodePool ${pool}`,
    );
  }
}
