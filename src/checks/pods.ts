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
