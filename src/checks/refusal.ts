// Karpenter's word that it cannot schedule the run's pods: its FailedScheduling events ("Failed
// to schedule pod, <why every NodePool ruled the pod out>"), which it records on the pods (once
// per pod per 5 minutes). Together with no NodeClaim of the run, a reason to fail provision at
// once with Karpenter's reason instead of waiting out the stage timeout. Pure.
import type * as k8s from '@kubernetes/client-node';
import { isKarpenterEvent } from './pods.js';

/** Refusals that fail the stage at once (Karpenter retries, but the same pods keep the same reason). */
export const REFUSALS_TO_FAIL = 3;
/** How long a single refusal may stand without a NodeClaim of the run before the stage fails. */
export const REFUSAL_GRACE_MS = 30_000;

export interface Refusal {
  /** Event UID (or namespace/name). */
  key: string;
  pod: string;
  /** Karpenter's reason, without its "Failed to schedule pod, " prefix. */
  reason: string;
  /** How many times the event says it happened. */
  count: number;
  /** When the action first saw it (its own clock: the grace is measured against it). */
  seenAt: number;
}

/** A Karpenter FailedScheduling event about a pod of the workload, as a Refusal; else undefined. Pure. */
export function refusalOf(e: k8s.CoreV1Event, podPrefix: string, seenAt: number): Refusal | undefined {
  if (e.reason !== 'FailedScheduling' || e.involvedObject?.kind !== 'Pod' || !e.involvedObject.name?.startsWith(podPrefix)) return undefined;
  if (!isKarpenterEvent(e)) return undefined;
  return {
    key: e.metadata?.uid ?? `${e.metadata?.namespace}/${e.metadata?.name}`,
    pod: e.involvedObject.name,
    reason: (e.message ?? '').replace(/^Failed to schedule pod, /, ''),
    count: Math.max(1, e.count ?? 1),
    // The action's own clock, not the event's: a cluster clock off from the runner's must not cut the grace short.
    seenAt,
  };
}

export type RefusalVerdict =
  | { kind: 'none' }
  /** Refused, no NodeClaim yet: look again after waitMs. */
  | { kind: 'wait'; waitMs: number }
  | { kind: 'fail'; reasons: string[]; events: number; pods: string[]; sinceMs: number };

/**
 * Whether Karpenter has refused the run's pods for good: refusals and no NodeClaim of the run,
 * and either REFUSALS_TO_FAIL of them or one standing REFUSAL_GRACE_MS. A NodeClaim of the run
 * (Karpenter did act, for some pods at least) clears it: provision's own wait then decides.
 * `runClaims` undefined means the NodeClaims are not known now (their watch is failing: the API
 * does not answer): "made no NodeClaim" cannot be said, so nothing is judged until they are. Pure.
 */
export function judgeRefusals(
  refusals: Refusal[],
  runClaims: number | undefined,
  now: number,
  opts = { toFail: REFUSALS_TO_FAIL, graceMs: REFUSAL_GRACE_MS },
): RefusalVerdict {
  if (runClaims === undefined || runClaims > 0 || refusals.length === 0) return { kind: 'none' };
  const events = refusals.reduce((s, r) => s + r.count, 0);
  const first = Math.min(...refusals.map((r) => r.seenAt));
  const sinceMs = Math.max(0, now - first);
  if (events >= opts.toFail || sinceMs >= opts.graceMs) {
    return {
      kind: 'fail',
      reasons: [...new Set(refusals.map((r) => r.reason))],
      events,
      pods: [...new Set(refusals.map((r) => r.pod))].sort(),
      sinceMs,
    };
  }
  return { kind: 'wait', waitMs: opts.graceMs - sinceMs };
}

/** What to check next for Karpenter's reason. Pure. */
export function refusalHint(reasons: string[], pool: string): string {
  const all = reasons.join(' ');
  if (/did not tolerate taint/.test(all))
    return `the pods do not tolerate a taint of NodePool ${pool}: the workload tolerates the taints the NodePool had when the workload stage made it, so a taint added since (another tool managing the pool?) keeps Karpenter from placing them; remove it, or rerun so the workload follows it`;
  if (/exceed limits/.test(all)) return `raise spec.limits of NodePool ${pool}, or wait for nodes of other runs to go`;
  if (/incompatible requirements|no instance type/.test(all))
    return `NodePool ${pool}'s requirements or instance types leave no node that fits the pods (gpus-per-pod, instance-types, requirements)`;
  return `read Karpenter's reason above and its log (diagnostics)`;
}
