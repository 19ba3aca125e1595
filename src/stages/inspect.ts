// Read-only collectors for diagnostics and evidence: each returns an EvidenceItem with the
// kubectl command that shows the same thing, and never throws (a failed read is reported).
import type * as k8s from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { claimStage, isNodeReady, NODEPOOL_LABEL, INSTANCE_TYPE_LABEL, type NodeClaim } from '../checks/capacity.js';
import { formatConditions, type WithConditions } from '../checks/conditions.js';
import { describeHpa } from '../checks/hpa.js';
import { isUnschedulable } from '../checks/pods.js';
import { gpusIn } from '../checks/quantity.js';
import { WORKLOAD_NAME } from '../checks/workload.js';
import type { EvidenceItem, RunState } from '../types.js';
import type { Kube } from '../kube/client.js';
import { eventsCommand, formatEvents, listEvents } from '../kube/events.js';
import { EXTERNAL_METRICS, EXTERNAL_METRICS_APISERVICE, externalMetric, NODECLAIMS, NODEPOOLS } from '../kube/paths.js';
import { getJson, rawRequest } from '../kube/raw.js';
import { KARPENTER_SELECTOR } from '../karpenter/existing.js';
import { karpenterLogTail } from '../tools/karpenter-process.js';
import type { StageContext } from './stage.js';

async function safe(title: string, command: string, read: () => Promise<string>): Promise<EvidenceItem> {
  try {
    return { title, command, output: await read() };
  } catch (e) {
    return { title, command, output: `(could not read: ${(e as Error).message})` };
  }
}

export const apiServiceStatus = (kube: Kube): Promise<EvidenceItem> =>
  safe('External metrics APIService status', `kubectl get apiservice ${EXTERNAL_METRICS_APISERVICE} -o yaml`, async () => {
    const a = await kube.apiregistration.readAPIService({ name: EXTERNAL_METRICS_APISERVICE });
    return `service: ${a.spec?.service ? `${a.spec.service.namespace}/${a.spec.service.name}:${a.spec.service.port ?? 443}` : 'Local'}\n${formatConditions(a as WithConditions)}`;
  });

export const rawGetItem = (title: string, kube: Kube, path: string): Promise<EvidenceItem> =>
  safe(title, `kubectl get --raw ${path}`, async () => {
    const r = await rawRequest(kube, path);
    return `HTTP ${r.status}\n${r.text.slice(0, 4000)}`;
  });

export const externalMetricsDiscovery = (kube: Kube) => rawGetItem('External metrics discovery', kube, EXTERNAL_METRICS);
export const externalMetricAnswer = (kube: Kube, ns: string, metric: string) =>
  rawGetItem(`External metric ${metric} (raw answer)`, kube, externalMetric(ns, metric));

export const hpaStatus = (kube: Kube, ns: string, metric: string): Promise<EvidenceItem> =>
  safe('HPA status and conditions', `kubectl describe hpa ${WORKLOAD_NAME} -n ${ns}`, async () =>
    describeHpa(await kube.autoscaling.readNamespacedHorizontalPodAutoscaler({ name: WORKLOAD_NAME, namespace: ns }), metric),
  );

export const eventsItem = (title: string, kube: Kube, ns: string, about?: { kind?: string; name?: string; reason?: string }): Promise<EvidenceItem> =>
  safe(title, eventsCommand(ns, about), async () => formatEvents(await listEvents(kube, ns, about)));

export const workloadPods = (kube: Kube, ns: string): Promise<EvidenceItem> =>
  safe('Workload pods', `kubectl get pods -n ${ns} -l app.kubernetes.io/name=${WORKLOAD_NAME} -o wide`, async () => {
    const pods = (await kube.core.listNamespacedPod({ namespace: ns })).items;
    return formatPods(pods);
  });

export function formatPods(pods: k8s.V1Pod[]): string {
  if (pods.length === 0) return '(no pods)';
  return pods
    .map((p) => {
      const sched = (p.status?.conditions ?? []).find((c) => c.type === 'PodScheduled');
      return `${p.metadata?.name}  ${p.status?.phase}  node=${p.spec?.nodeName ?? '-'}${isUnschedulable(p) ? `  Unschedulable: ${sched?.message ?? ''}` : ''}`;
    })
    .join('\n');
}

export const poolNodes = (kube: Kube, pool: string): Promise<EvidenceItem> =>
  safe(`Nodes of NodePool ${pool}`, `kubectl get nodes -l ${NODEPOOL_LABEL}=${pool} -L ${INSTANCE_TYPE_LABEL} -o wide`, async () => {
    const nodes = (await kube.core.listNode({ labelSelector: `${NODEPOOL_LABEL}=${pool}` })).items;
    return formatNodes(nodes);
  });

export function formatNodes(nodes: k8s.V1Node[]): string {
  if (nodes.length === 0) return '(no nodes)';
  return nodes
    .map(
      (n) =>
        `${n.metadata?.name}  ${isNodeReady(n) ? 'Ready' : 'NotReady'}  ${n.metadata?.labels?.[INSTANCE_TYPE_LABEL] ?? '?'}  gpu=${gpusIn(n.status?.allocatable)}  created=${new Date(n.metadata?.creationTimestamp ?? 0).toISOString()}${n.metadata?.deletionTimestamp ? '  deleting' : ''}`,
    )
    .join('\n');
}

export const nodeClaims = (kube: Kube, pool: string): Promise<EvidenceItem> =>
  safe(`NodeClaims of NodePool ${pool}`, `kubectl get nodeclaims -l ${NODEPOOL_LABEL}=${pool} -o yaml`, async () => {
    const list = await getJson<{ items: NodeClaim[] }>(kube, NODECLAIMS, { labelSelector: `${NODEPOOL_LABEL}=${pool}` });
    if (list.items.length === 0) return '(no NodeClaims)';
    return list.items
      .map(
        (c) =>
          `${c.metadata?.name}  ${claimStage(c)}  type=${c.metadata?.labels?.[INSTANCE_TYPE_LABEL] ?? '?'}  node=${c.status?.nodeName ?? '-'}\n${indent(formatConditions(c as WithConditions))}`,
      )
      .join('\n');
  });

export const nodePool = (kube: Kube, pool: string): Promise<EvidenceItem> =>
  safe(`NodePool ${pool}`, `kubectl get nodepool ${pool} -o yaml`, async () => {
    const np = await getJson<{ spec?: Record<string, unknown>; status?: Record<string, unknown> }>(kube, `${NODEPOOLS}/${pool}`);
    return stringify({ limits: (np.spec as { limits?: unknown })?.limits, disruption: (np.spec as { disruption?: unknown })?.disruption, status: np.status });
  });

/** Karpenter's log tail: the child process's log in process mode, else the controller pods' logs. */
export async function karpenterLogs(kube: Kube, run: RunState, tail: (run: RunState, lines?: number) => string): Promise<EvidenceItem> {
  if (run.karpenterLog) {
    return safe('Karpenter log tail (process)', `tail -n 50 ${run.karpenterLog}`, async () => tail(run, 50));
  }
  return podLogs(kube, 'Karpenter', KARPENTER_SELECTOR);
}

/** The log tails of a controller's pods, found by label in every namespace. */
export const podLogs = (kube: Kube, who: string, selector: string, tailLines = 50): Promise<EvidenceItem> =>
  safe(`${who} log tail (pods)`, `kubectl logs -A -l ${selector} --tail=${tailLines}`, async () => {
    const pods = (await kube.core.listPodForAllNamespaces({ labelSelector: selector })).items;
    if (pods.length === 0) return `(no ${who} pods found)`;
    const out: string[] = [];
    for (const p of pods) {
      const log = await kube.core.readNamespacedPodLog({ name: p.metadata!.name!, namespace: p.metadata!.namespace!, tailLines });
      out.push(`--- ${p.metadata?.namespace}/${p.metadata?.name} (${p.status?.phase}${p.metadata?.deletionTimestamp ? ', terminating' : ''})\n${log}`);
    }
    return out.join('\n');
  });

const indent = (s: string) =>
  s
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n');

/** What a person needs when capacity did not come as expected: Karpenter's log, the pool's NodeClaims, NodePool and Nodes, the run's pods and scheduling events. */
export async function capacityDiagnostics(ctx: StageContext): Promise<void> {
  const kube = ctx.kube();
  const pool = ctx.config.nodePool.name;
  ctx.diagnostic(await karpenterLogs(kube, ctx.run, karpenterLogTail));
  ctx.diagnostic(await nodeClaims(kube, pool));
  ctx.diagnostic(await nodePool(kube, pool));
  ctx.diagnostic(await poolNodes(kube, pool));
  ctx.diagnostic(await workloadPods(kube, ctx.run.namespace));
  ctx.diagnostic(await eventsItem('Scheduling events', kube, ctx.run.namespace, { reason: 'FailedScheduling' }));
}
