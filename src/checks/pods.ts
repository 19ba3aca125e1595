import type * as k8s from '@kubernetes/client-node';
import { condition, iso, type WithConditions } from './conditions.js';

const live = (p: k8s.V1Pod) => !p.metadata?.deletionTimestamp;

/** PodScheduled=False with reason Unschedulable: the scheduler found no node for it. */
export function isUnschedulable(pod: k8s.V1Pod): boolean {
  const c = condition(pod as WithConditions, 'PodScheduled');
  return c?.status === 'False' && c.reason === 'Unschedulable';
}

/** The earliest Unschedulable pod and when it became so (its condition's lastTransitionTime). Pure. */
export function firstUnschedulable(pods: Iterable<k8s.V1Pod>): { pod: string; at: string; message: string; count: number } | undefined {
  let best: { pod: string; at: string; message: string } | undefined;
  let count = 0;
  for (const p of pods) {
    if (!live(p) || !isUnschedulable(p)) continue;
    count++;
    const c = condition(p as WithConditions, 'PodScheduled')!;
    const at = iso(c.lastTransitionTime) ?? iso(p.metadata?.creationTimestamp) ?? new Date().toISOString();
    if (!best || at < best.at) best = { pod: p.metadata?.name ?? '?', at, message: c.message ?? '' };
  }
  return best && { ...best, count };
}

export interface ScheduleSummary {
  ok: boolean;
  desired: number;
  runningOnPool: string[];
  pending: string[];
  /** Running on nodes outside the NodePool (a nodeSelector bypass would show here). */
  elsewhere: string[];
  /** Per node, how many of the workload's pods run there. */
  perNode: Record<string, number>;
  /** When the last of them became Ready (its Ready condition), for the timeline. */
  lastRunning?: { pod: string; at: string };
  detail: string;
}

/** Every desired replica Running (and Ready) on a node of the pool, none Pending. Pure. */
export function summarizeSchedule(pods: Iterable<k8s.V1Pod>, poolNodes: ReadonlySet<string>, desired: number): ScheduleSummary {
  const runningOnPool: string[] = [];
  const pending: string[] = [];
  const elsewhere: string[] = [];
  const perNode: Record<string, number> = {};
  let lastRunning: { pod: string; at: string } | undefined;
  for (const p of pods) {
    if (!live(p)) continue;
    const name = p.metadata?.name ?? '?';
    const node = p.spec?.nodeName;
    const ready = condition(p as WithConditions, 'Ready');
    if (p.status?.phase === 'Running' && ready?.status === 'True' && node) {
      if (!poolNodes.has(node)) {
        elsewhere.push(`${name}@${node}`);
        continue;
      }
      runningOnPool.push(name);
      perNode[node] = (perNode[node] ?? 0) + 1;
      const at = iso(ready.lastTransitionTime) ?? iso(p.status?.startTime);
      if (at && (!lastRunning || at > lastRunning.at)) lastRunning = { pod: name, at };
    } else if (p.status?.phase === 'Pending' || p.status?.phase === 'Running') {
      pending.push(name);
    }
  }
  const ok = runningOnPool.length >= desired && pending.length === 0 && desired > 0;
  const detail = `${runningOnPool.length}/${desired} Running on the pool, ${pending.length} Pending/not Ready${elsewhere.length ? `, ${elsewhere.length} on nodes outside the pool` : ''}`;
  return { ok, desired, runningOnPool, pending, elsewhere, perNode, lastRunning, detail };
}

/** One "<count> <reason>" of the scheduler's "0/N nodes are available: ..." message. */
export interface SchedulerReason {
  count: number;
  text: string;
  /** gpu: the node lacks the GPU resource; outside-pool: the pool's nodeSelector excluded it; starting: a node still coming up; other: anything else (taint, affinity, cpu...). */
  kind: 'gpu' | 'outside-pool' | 'starting' | 'other';
}

/** What a scheduler message says about the trigger of a GPU scale-up. */
export interface TriggerVerdict {
  /** gpu: lack of GPU capacity (counts as the trigger); other: the pod is unschedulable for another reason; undecided: only nodes still starting were ruled out. */
  kind: 'gpu' | 'other' | 'undecided';
  /** The reasons of the message, in its order. */
  reasons: SchedulerReason[];
  /** One line: why it counts, or what the scheduler said instead. */
  detail: string;
}

/** Taints of nodes on their way up (Karpenter's and the node lifecycle's): the next attempt decides. */
const STARTING_TAINTS = [
  'karpenter.sh/unregistered',
  'node.kubernetes.io/not-ready',
  'node.cloudprovider.kubernetes.io/uninitialized',
  'node.kubernetes.io/unreachable',
];

/** The reasons of a kube-scheduler FitError message ("0/3 nodes are available: 1 A, 2 B. preemption: ..."). Pure. */
export function schedulerReasons(message: string, resource = 'nvidia.com/gpu'): { nodes?: number; reasons: SchedulerReason[] } {
  const m = /(\d+)\/(\d+) nodes are available: (.*)/s.exec(message);
  if (!m) return { reasons: [] };
  // The reasons end at the first ". ": PostFilter messages follow (1.34: "no new claims to
  // deallocate, preemption: 0/1 nodes are available: ..."), or nothing.
  const body = m[3]!.split(/\.(?:\s|$)/)[0]!;
  const reasons: SchedulerReason[] = [];
  for (const part of body.split(/,\s+(?=\d+ )/)) {
    const r = /^(\d+) (.*)$/s.exec(part.trim());
    if (!r) continue;
    const text = r[2]!.trim();
    reasons.push({ count: Number(r[1]), text, kind: reasonKind(text, resource) });
  }
  return { nodes: Number(m[2]), reasons };
}

function reasonKind(text: string, resource: string): SchedulerReason['kind'] {
  if (text === `Insufficient ${resource}`) return 'gpu';
  if (/didn't match Pod's node affinity\/selector/.test(text)) return 'outside-pool';
  const taint = /untolerated taint\(?s?\)? \{([^:}]+):/.exec(text);
  if (taint && STARTING_TAINTS.includes(taint[1]!.trim())) return 'starting';
  return 'other';
}

/**
 * Whether a scheduler message makes a pod the trigger of a GPU scale-up (pure): a node lacked
 * the GPU resource ("Insufficient nvidia.com/gpu"), or no node could take the pod because the
 * NodePool has none (an empty cluster: "no nodes available to schedule pods"; or
 * `poolNodes` 0, so every reason is about a node outside the pool). Any other reason while the
 * pool has nodes (a taint the pod does not tolerate, an affinity, cpu...) is not the trigger.
 */
export function judgeTrigger(message: string, poolNodes: number, resource = 'nvidia.com/gpu'): TriggerVerdict {
  if (/no nodes available to schedule pods/.test(message)) {
    return { kind: 'gpu', reasons: [], detail: 'the cluster has no node at all: only a new GPU node can take the pod' };
  }
  const { nodes, reasons } = schedulerReasons(message, resource);
  const gpu = reasons.filter((r) => r.kind === 'gpu');
  if (gpu.length) {
    return { kind: 'gpu', reasons, detail: `${gpu.reduce((s, r) => s + r.count, 0)} node(s) lacked ${resource}` };
  }
  if (nodes !== undefined && poolNodes === 0) {
    return { kind: 'gpu', reasons, detail: `the NodePool has no node yet: the ${nodes} node(s) ruled out are outside it` };
  }
  const others = reasons.filter((r) => r.kind === 'other');
  if (nodes !== undefined && others.length === 0 && reasons.some((r) => r.kind === 'starting')) {
    return { kind: 'undecided', reasons, detail: 'only nodes still starting were ruled out' };
  }
  const said = others.length ? others.map((r) => `${r.count} ${r.text}`).join(', ') : message || '(no message)';
  return { kind: 'other', reasons, detail: `not for lack of ${resource}: ${said}` };
}

/** The scheduler's Unschedulable message of a pod (its PodScheduled condition), or undefined. */
export const unschedulableMessage = (pod: k8s.V1Pod): string | undefined =>
  isUnschedulable(pod) ? (condition(pod as WithConditions, 'PodScheduled')?.message ?? '') : undefined;

export interface TriggerSearch {
  /** The earliest pod Unschedulable for lack of GPU capacity. */
  trigger?: { pod: string; at: string; message: string; detail: string; count: number };
  /** Pods Unschedulable for another reason: pod -> what the scheduler said. */
  other: { pod: string; message: string; detail: string }[];
  /** Pods Unschedulable on nodes still starting only (wait for the next attempt). */
  undecided: number;
}

/** The GPU trigger among the pods, and the pods unschedulable for other reasons. Pure. */
export function findTrigger(pods: Iterable<k8s.V1Pod>, poolNodes: number, resource = 'nvidia.com/gpu'): TriggerSearch {
  let trigger: TriggerSearch['trigger'];
  let count = 0;
  const other: TriggerSearch['other'] = [];
  let undecided = 0;
  for (const p of pods) {
    if (!live(p)) continue;
    const message = unschedulableMessage(p);
    if (message === undefined) continue;
    const name = p.metadata?.name ?? '?';
    const v = judgeTrigger(message, poolNodes, resource);
    if (v.kind === 'other') other.push({ pod: name, message, detail: v.detail });
    else if (v.kind === 'undecided') undecided++;
    else {
      count++;
      const c = condition(p as WithConditions, 'PodScheduled')!;
      const at = iso(c.lastTransitionTime) ?? iso(p.metadata?.creationTimestamp) ?? new Date().toISOString();
      if (!trigger || at < trigger.at) trigger = { pod: name, at, message, detail: v.detail, count: 0 };
    }
  }
  return { trigger: trigger && { ...trigger, count }, other, undecided };
}

/** A FailedScheduling event written by Karpenter (its "Failed to schedule pod, ..."), not by kube-scheduler. */
export function isKarpenterEvent(e: k8s.CoreV1Event): boolean {
  return e.source?.component === 'karpenter' || e.reportingComponent === 'karpenter' || /^Failed to schedule pod, /.test(e.message ?? '');
}
