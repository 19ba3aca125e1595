import type * as k8s from '@kubernetes/client-node';
import {
  claimsByDecision,
  conditionTime,
  evaluateClaims,
  extremeTime,
  INSTANCE_TYPE_LABEL,
  isNodeReady,
  isRunNodeClaim,
  NODEPOOL_LABEL,
  neededGpus,
  type NodeClaim,
  type ProvisionVerdict,
} from '../checks/capacity.js';
import { formatIds, judgeBaseline } from '../checks/baseline.js';
import { iso } from '../checks/conditions.js';
import { gpusIn, parseQuantity } from '../checks/quantity.js';
import { judgeRefusals, refusalHint, refusalOf, type Refusal } from '../checks/refusal.js';
import { cheapestFit, priceOf } from '../checks/rightsizing.js';
import { desiredReplicas, WORKLOAD_NAME } from '../checks/workload.js';
import type { Kube } from '../kube/client.js';
import { capacityDiagnostics, formatNodes } from './inspect.js';
import { NODECLAIMS, NODEPOOLS, NODES } from '../kube/paths.js';
import { getJson } from '../kube/raw.js';
import { watchUntil } from '../kube/watch.js';
import { waitFor, withSoftDeadline } from './wait.js';
import type { Config } from '../types.js';
import { runIdentity } from './identity.js';
import { holdSteady } from './steady.js';
import { pass, StageFailure, type Stage, type StageContext } from './stage.js';

/** The NodePool's nvidia.com/gpu limit as the cluster has it (else as the nodepool file sets it). */
async function gpuLimit(kube: Kube, config: Config): Promise<number | undefined> {
  try {
    const np = await getJson<{ spec?: { limits?: Record<string, string> } }>(kube, `${NODEPOOLS}/${config.nodePool.name}`);
    return parseQuantity(np.spec?.limits?.['nvidia.com/gpu']);
  } catch {
    return config.nodePool.gpuLimit;
  }
}

const NEXT =
  'check Karpenter is running and its log (diagnostics), the NodePool limits and requirements, and that an instance type offers enough nvidia.com/gpu';

export const provisionStage: Stage = {
  name: 'provision',
  async run(stageCtx) {
    const ctx = withSoftDeadline(stageCtx, 'provision');
    const { config, run } = ctx;
    const kube = ctx.kube();
    const pool = config.nodePool.name;
    const desired = desiredReplicas(config, run);
    const needed = neededGpus(desired, config.gpusPerPod);
    const limit = await gpuLimit(kube, config);
    if (limit !== undefined && limit < needed) {
      throw new StageFailure(
        `Expected NodePool ${pool} to allow ${needed} GPUs (${desired} replicas x ${config.gpusPerPod} nvidia.com/gpu); its limit nvidia.com/gpu=${limit} is below that, so Karpenter cannot provision them`,
        `raise spec.limits["nvidia.com/gpu"] of NodePool ${pool} to at least ${needed}, or lower max-replicas / gpus-per-pod`,
      );
    }
    const id = await runIdentity(kube, config, run);
    const claimNodes = new Set<string>();
    // GPUs in the pool before the run (nodes not made for this run's claims).
    const before = (await kube.core.listNode({ labelSelector: `${NODEPOOL_LABEL}=${pool}` })).items;
    const ownClaims = (await getJson<{ items: NodeClaim[] }>(kube, NODECLAIMS, { labelSelector: `${NODEPOOL_LABEL}=${pool}` })).items.filter((c) =>
      isRunNodeClaim(c, id),
    );
    for (const c of ownClaims) if (c.status?.nodeName) claimNodes.add(c.status.nodeName);
    const baselineGpus = before.filter((n) => !claimNodes.has(n.metadata?.name ?? '')).reduce((s, n) => s + gpusIn(n.status?.allocatable), 0);

    let last: ProvisionVerdict | undefined;
    // Karpenter's refusals of the run's pods, watched beside the NodeClaims: when it rules every
    // NodePool out and makes no NodeClaim of the run, the stage fails with its reason at once.
    const refusals = new Map<string, Refusal>();
    let claimsEver = 0;
    // Whether the NodeClaims below are current: while their watch fails (the API is down) "no
    // NodeClaim of this run" is not known, and the stage's own timeout decides, naming the outage.
    let claimsCurrent = false;
    const local = new AbortController();
    const wctx: StageContext = { ...ctx, signal: AbortSignal.any([ctx.signal, local.signal]) };
    let refuse!: (e: Error) => void;
    const refused = new Promise<never>((_, reject) => (refuse = reject));
    refused.catch(() => undefined);
    let grace: NodeJS.Timeout | undefined;
    const judge = () => {
      clearTimeout(grace);
      const v = judgeRefusals([...refusals.values()], claimsCurrent ? claimsEver : undefined, Date.now());
      if (v.kind === 'wait') grace = setTimeout(judge, v.waitMs);
      if (v.kind !== 'fail') return;
      refuse(
        new StageFailure(
          `Expected NodeClaims of NodePool ${pool} for ${desired} replica(s); Karpenter cannot schedule the run's pods and made no NodeClaim of this run (${v.events} refusal(s) over ${Math.round(v.sinceMs / 1000)} s, pods ${v.pods.join(', ')}): ${v.reasons.map((r) => `"${r}"`).join('; ')}`,
          refusalHint(v.reasons, pool),
        ),
      );
    };
    const eventsPath = `/api/v1/namespaces/${run.namespace}/events`;
    void watchUntil<k8s.CoreV1Event, never>(kube, {
      path: eventsPath,
      fieldSelector: 'reason=FailedScheduling',
      signal: wctx.signal,
      describe: "Karpenter's scheduling refusals",
      log: () => undefined,
      until: (items) => {
        for (const e of items.values()) {
          const r = refusalOf(e, `${WORKLOAD_NAME}-`, Date.now());
          if (r && !refusals.has(r.key)) refusals.set(r.key, r);
          else if (r) refusals.get(r.key)!.count = r.count;
        }
        judge();
        return undefined;
      },
    }).catch(() => undefined); // only a shortcut: without events (RBAC, an old apiserver) provision waits as before
    let claims: NodeClaim[];
    let claimsSeenAt: Date;
    try {
      ({ claims, claimsSeenAt } = await Promise.race([
        waitFor<NodeClaim, { claims: NodeClaim[]; claimsSeenAt: Date }>(
          wctx,
          {
            path: NODECLAIMS,
            labelSelector: `${NODEPOOL_LABEL}=${pool}`,
            describe: `NodeClaims of NodePool ${pool} Initialized`,
            state: () => last?.detail ?? 'no NodeClaim of this run yet',
            onCurrent: (current) => {
              claimsCurrent = current;
              judge();
            },
            until: (items, ev) => {
              const mine = [...items.values()].filter((c) => isRunNodeClaim(c, id));
              if (mine.length > claimsEver) {
                claimsEver = mine.length;
                judge();
              }
              last = evaluateClaims(mine, needed, baselineGpus);
              return last.ok ? { claims: mine.filter((c) => !c.metadata?.deletionTimestamp), claimsSeenAt: ev?.receivedAt ?? new Date() } : undefined;
            },
          },
          { expected: `NodeClaims of NodePool ${pool} Launched, Registered and Initialized with ${needed} GPU(s) for ${desired} replica(s)`, next: NEXT },
        ),
        refused,
      ]));
    } catch (e) {
      // A timeout while Karpenter refused some pods (it made claims for others): say what it said.
      const said = [...new Set([...refusals.values()].map((r) => r.reason))];
      if (e instanceof StageFailure && said.length && !/Karpenter cannot schedule/.test(e.message))
        throw new StageFailure(
          `${e.message.split('. Next: ')[0]}; Karpenter said for the pods: ${said.map((r) => `"${r}"`).join('; ')}`,
          refusalHint(said, pool),
        );
      throw e;
    } finally {
      local.abort();
      clearTimeout(grace);
    }
    const name = (c: NodeClaim) => c.metadata?.name ?? '?';
    // Capacity Karpenter made for the min-replicas pods before the HPA decided is not the scale-out's: the timeline keeps them apart.
    const decidedAt = run.timeline.find((t) => t.event === 'hpa-scale-decision')?.at;
    const { forMinReplicas, forScaleOut } = claimsByDecision(claims, decidedAt);
    const early = extremeTime(forMinReplicas, (c) => c.metadata?.creationTimestamp, name, 'min');
    if (early) {
      ctx.mark({
        event: 'min-replicas-nodeclaim-created',
        at: early.at,
        source: `NodeClaim ${early.name} .metadata.creationTimestamp (first, before the HPA decided)`,
      });
      ctx.evidence({
        title: 'Capacity made before the HPA decided',
        command: `kubectl get nodeclaims -l ${NODEPOOL_LABEL}=${pool} -o custom-columns=NAME:.metadata.name,CREATED:.metadata.creationTimestamp`,
        output: [
          ...forMinReplicas.map(
            (c) =>
              `${name(c)} created ${iso(c.metadata?.creationTimestamp)}: before the HPA's scale-out decision at ${decidedAt}, for the ${config.minReplicas} min-replicas pod(s)`,
          ),
          forScaleOut.length
            ? `${forScaleOut.length} NodeClaim(s) made for the scale-out (the timeline's nodeclaim-created is the first of these)`
            : 'no NodeClaim made after the decision: the scale-out pods fit on capacity made for the min-replicas pods',
        ].join('\n'),
      });
    }
    const created = extremeTime(forScaleOut, (c) => c.metadata?.creationTimestamp, name, 'min');
    if (created)
      ctx.mark({
        event: 'nodeclaim-created',
        at: created.at,
        source: `NodeClaim ${created.name} .metadata.creationTimestamp (first${early ? ' after the HPA decided' : ''})`,
      });
    for (const [event, type] of [
      ['nodeclaim-launched', 'Launched'],
      ['nodeclaim-registered', 'Registered'],
      ['nodeclaim-initialized', 'Initialized'],
    ] as const) {
      const t = extremeTime(claims, conditionTime(type), name, 'max');
      if (t)
        ctx.mark({
          event,
          at: t.at,
          source: `NodeClaim ${t.name} ${type} .lastTransitionTime (last of ${claims.length})`,
          observedAt: type === 'Initialized' ? claimsSeenAt.toISOString() : undefined,
        });
    }

    const wanted = new Set(claims.map((c) => c.status?.nodeName).filter((n): n is string => !!n));
    const ids = run.baselineNodeIds;
    const baseline = ids?.length ?? run.baselineNodes ?? 0;
    const { nodes, receivedAt, poolUids } = await waitFor<k8s.V1Node, { nodes: k8s.V1Node[]; receivedAt: Date; poolUids: Set<string> }>(
      ctx,
      {
        path: NODES,
        labelSelector: `${NODEPOOL_LABEL}=${pool}`,
        describe: `Nodes of NodePool ${pool} Ready with GPUs`,
        state: (items) =>
          `${items.size} node(s) in the pool (baseline ${baseline}); ${[...wanted].filter((n) => isNodeReady(items.get(n) as k8s.V1Node)).length}/${wanted.size} of this run's nodes Ready`,
        until: (items, ev) => {
          // The scale-out adds to the pool: a baseline node lost on the way fails at once, naming it.
          const lost = ids ? judgeBaseline(ids, items.values()).gone : [];
          if (lost.length)
            throw new StageFailure(
              `Expected NodePool ${pool}'s baseline nodes (${formatIds(ids!)}) to stay during the scale-out; ${lost.map((g) => `${g.node.name} (uid ${g.node.uid}) ${g.how}`).join('; ')}`,
              `read Karpenter's log (diagnostics) for a disruption or replacement of that node; pin baseline nodes with the karpenter.sh/do-not-disrupt annotation`,
            );
          const mine = [...wanted].map((n) => items.get(n)).filter((n): n is k8s.V1Node => !!n && isNodeReady(n) && gpusIn(n.status?.allocatable) > 0);
          return mine.length === wanted.size && items.size > baseline
            ? { nodes: mine, receivedAt: ev?.receivedAt ?? new Date(), poolUids: new Set([...items.values()].map((n) => n.metadata?.uid ?? '')) }
            : undefined;
        },
      },
      { expected: `${wanted.size} new Node(s) of NodePool ${pool} Ready with nvidia.com/gpu allocatable above the baseline of ${baseline}`, next: NEXT },
    );
    // n-plus-one: one trigger pod makes exactly one node: N+1, not more.
    if (config.scenario === 'n-plus-one' && poolUids.size !== baseline + 1)
      throw new StageFailure(
        `Expected N+1 = ${baseline + 1} node(s) in NodePool ${pool} (baseline N = ${baseline}, one trigger pod); saw ${poolUids.size}: the run's new node(s) ${nodes.map((n) => n.metadata?.name).join(', ')}`,
        `read Karpenter's log (diagnostics) for why it made more than one node for one pod (NodeClaims of this run: ${claims.map(name).join(', ')})`,
      );
    const ready = extremeTime(nodes, conditionTime('Ready'), (n) => n.metadata?.name ?? '?', 'max');
    if (ready)
      ctx.mark({
        event: 'node-ready',
        at: ready.at,
        source: `Node ${ready.name} Ready .lastTransitionTime (last of ${nodes.length})`,
        observedAt: receivedAt.toISOString(),
      });

    run.outputs.nodesProvisioned = claims.length;
    const fit = cheapestFit(config.instanceTypes, config.gpusPerPod);
    const rows = nodes.map((n) => {
      const type = n.metadata?.labels?.[INSTANCE_TYPE_LABEL] ?? '?';
      const price = priceOf(config.instanceTypes.find((t) => t.name === type));
      return { node: n.metadata?.name, instanceType: type, gpus: gpusIn(n.status?.allocatable), price, cheapestForOnePod: fit?.name };
    });
    ctx.evidence({
      title: `NodeClaims of this run`,
      command: `kubectl get nodeclaims -l ${NODEPOOL_LABEL}=${pool} -o wide`,
      output: claims
        .map(
          (c) =>
            `${name(c)}  ${c.metadata?.labels?.[INSTANCE_TYPE_LABEL] ?? '?'}  node=${c.status?.nodeName}  gpu=${gpusIn(c.status?.allocatable ?? c.status?.capacity)}`,
        )
        .join('\n'),
    });
    ctx.evidence({
      title: 'Provisioned GPU nodes',
      command: `kubectl get nodes -l ${NODEPOOL_LABEL}=${pool} -L ${INSTANCE_TYPE_LABEL}`,
      output: formatNodes(nodes),
    });
    ctx.evidence({
      title: 'Provisioned instance types and prices',
      command: `kubectl get nodes -l ${NODEPOOL_LABEL}=${pool} -o jsonpath='{..instance-type}'`,
      output: JSON.stringify(rows, null, 2),
    });
    const gpus = rows.reduce((s, r) => s + r.gpus, 0);
    const steady = await holdSteady(ctx, { pool, windowMs: config.stabilityWindowMs, after: 'after scale-out', expectUids: poolUids });
    if (config.scenario === 'n-plus-one')
      return pass(
        `N+1 = ${poolUids.size} node(s): ${claims.length} NodeClaim(s) of the trigger Initialized, ${nodes.length} new node(s) Ready (${rows.map((r) => r.instanceType).join(', ')}) with ${gpus} GPU(s); ${ids?.length ?? 0} baseline node(s) intact${steady ? `; pool held ${steady.windowMs / 1000} s without change` : ''}`,
      );
    return pass(
      `${claims.length} NodeClaim(s) Initialized; ${nodes.length} node(s) Ready (${rows.map((r) => r.instanceType).join(', ')}) with ${gpus} GPU(s) for ${needed} needed${ids ? `; ${ids.length} baseline node(s) intact` : ''}${steady ? `; pool held ${steady.windowMs / 1000} s without change` : ''}`,
    );
  },
  async diagnose(ctx) {
    await capacityDiagnostics(ctx);
  },
};
