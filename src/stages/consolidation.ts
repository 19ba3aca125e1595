import type * as k8s from '@kubernetes/client-node';
import { consolidationState, isRunNodeClaim, NODEPOOL_LABEL, type NodeClaim } from '../checks/capacity.js';
import { iso } from '../checks/conditions.js';
import { WORKLOAD_NAME } from '../checks/workload.js';
import { karpenterLogs, nodeClaims, nodePool, poolNodes } from './inspect.js';
import { hpasIn, NODECLAIMS, NODES } from '../kube/paths.js';
import { rawRequest } from '../kube/raw.js';
import { waitFor, withSoftDeadline } from './wait.js';
import { karpenterLogTail } from '../tools/karpenter-process.js';
import { runIdentity } from './identity.js';
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
  // The namespace goes too, now: its removal (about 5 s of the namespace controller) then
  // overlaps the consolidation wait instead of adding to cleanup. Cleanup still waits for it.
  await rawRequest(kube, `/api/v1/namespaces/${ns}`, { method: 'DELETE' });
  ctx.evidence({
    title: 'Workload deleted',
    command: `kubectl delete deployment,hpa ${WORKLOAD_NAME} -n ${ns} --cascade=foreground && kubectl delete namespace ${ns} --wait=false`,
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
    const baseline = run.baselineNodes ?? 0;
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
    const state = () => consolidationState(nodesLeft < 0 ? Infinity : nodesLeft, baseline, claimsLeft < 0 ? Infinity : claimsLeft).detail;
    const story = {
      expected: `NodePool ${pool} back to its baseline of ${baseline} node(s) and this run's NodeClaims gone`,
      next: `check the NodePool's disruption settings (consolidationPolicy, consolidateAfter, budgets) and Karpenter's log (diagnostics); set consolidation: warn to accept a pool that does not shrink`,
    };
    try {
      await Promise.all([
        waitFor<NodeClaim, true>(
          ctx,
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
        waitFor<k8s.V1Node, true>(
          ctx,
          {
            path: NODES,
            labelSelector: `${NODEPOOL_LABEL}=${pool}`,
            describe: `NodePool ${pool} back to ${baseline} node(s)`,
            state,
            until: (items, ev) => {
              if (ev?.type === 'DELETED') noteGone(ev.object, 'Node', ev.receivedAt);
              nodesLeft = items.size;
              return nodesLeft <= baseline ? true : undefined;
            },
          },
          story,
        ),
      ]);
    } catch (e) {
      if (e instanceof StageFailure && config.consolidation === 'warn') {
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
    return pass(`NodePool ${pool} back to ${baseline} node(s); this run's NodeClaims gone`);
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
