// Which runs on a cluster are still running. Every run holds a coordination.k8s.io/v1 Lease in
// the lease namespace (input lease-namespace; named as the run's namespace, labelled with the run
// label) and renews it while its main step runs; objects of another run id whose run has no Lease renewed within the stale
// window are leftovers of a run that ended without cleaning up. Without this, two runs at once
// would each take the other for a leftover (and cleanup-stale would delete a live run's namespace).
//
// Whose clock: a Lease's spec.renewTime is written by the client, so judging it against this
// runner's clock would let two runners with skewed clocks disagree. Both ends are the API
// server's instead: a renewal's time is the server-stamped time of the write (the Lease's
// metadata.managedFields[].time, which the server sets whenever a manager changes a field it
// owns, here renewTime on every renewal), and "now" is the server's Date header of the list
// response. renewTime is only a fallback for a server that keeps no managedFields.
import type * as k8s from '@kubernetes/client-node';

/** How often a running run renews its Lease. */
export const HEARTBEAT_INTERVAL_MS = 5_000;
/** A run whose Lease was last renewed longer ago than this (server time) has stopped: 4 missed renewals. */
export const HEARTBEAT_STALE_MS = 20_000;

/** Set at creation on the run's namespace and NodePool: how the run provides Karpenter (process mode starts one of its own). */
export const KARPENTER_MODE_ANNOTATION = 'gpu-autoscaling-conformance/karpenter-mode';

type RunLabel = { key: string; value: string };

/** The fields of a coordination.k8s.io/v1 Lease the action reads and writes. */
export interface Lease extends k8s.KubernetesObject {
  spec?: { holderIdentity?: string; leaseDurationSeconds?: number; acquireTime?: string; renewTime?: string };
}

/** A Lease's MicroTime ("2006-01-02T15:04:05.000000Z"), which the API server requires to the microsecond. Pure. */
export const microTime = (d: Date): string => d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');

/** The run's Lease, as created: in `leaseNamespace`, named as the run's namespace, labelled for the run, held by the run id. Pure. */
export function runLease(run: { namespace: string; runId: string; runLabel: RunLabel }, leaseNamespace: string, now: Date): Lease {
  return {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: { name: run.namespace, namespace: leaseNamespace, labels: { [run.runLabel.key]: run.runLabel.value } },
    spec: {
      holderIdentity: run.runId,
      leaseDurationSeconds: HEARTBEAT_STALE_MS / 1000,
      acquireTime: microTime(now),
      renewTime: microTime(now),
    },
  };
}

/** The Lease renewed: the same object (its resourceVersion guards the update) with a new renewTime. Pure. */
export function renewedLease(lease: Lease, now: Date): Lease {
  return { ...lease, spec: { ...lease.spec, renewTime: microTime(now) } };
}

const ms = (t: unknown): number | undefined => {
  if (t === undefined || t === null) return undefined;
  const v = new Date(t as string).getTime();
  return Number.isNaN(v) ? undefined : v;
};

/**
 * When a Lease was last renewed, in ms: the server's time of its newest write (managedFields,
 * creation), else, on a server without managedFields, the client-written renewTime. Pure.
 */
export function leaseRenewedAt(lease: Lease): number | undefined {
  const written = (lease.metadata?.managedFields ?? []).map((f) => ms(f.time)).filter((t): t is number => t !== undefined);
  if (written.length > 0) return Math.max(...written, ms(lease.metadata?.creationTimestamp) ?? -Infinity);
  const times = [ms(lease.spec?.renewTime), ms(lease.metadata?.creationTimestamp)].filter((t): t is number => t !== undefined);
  return times.length ? Math.max(...times) : undefined;
}

/**
 * Run ids (values of the run label) whose Lease was renewed within its duration (the Lease's
 * leaseDurationSeconds, else staleMs) before `serverNow`, the API server's time. Pure.
 */
export function liveRuns(leases: Iterable<Lease>, runLabelKey: string, serverNow: number, staleMs = HEARTBEAT_STALE_MS): Set<string> {
  const live = new Set<string>();
  for (const l of leases) {
    const id = l.metadata?.labels?.[runLabelKey];
    const renewed = leaseRenewedAt(l);
    const duration = l.spec?.leaseDurationSeconds ? l.spec.leaseDurationSeconds * 1000 : staleMs;
    if (id !== undefined && renewed !== undefined && serverNow - renewed < duration) live.add(id);
  }
  return live;
}

/** The server's time from an HTTP Date header, else the given fallback (this runner's clock). Pure. */
export function serverTime(dateHeader: string | undefined, fallback: number): number {
  return ms(dateHeader) ?? fallback;
}

/** Objects of another run that is no longer running: leftovers. Pure. */
export function staleObjects<T extends k8s.KubernetesObject>(objs: Iterable<T>, runLabel: RunLabel, live: ReadonlySet<string> = new Set()): T[] {
  return [...objs].filter((o) => {
    const v = o.metadata?.labels?.[runLabel.key];
    return v !== undefined && v !== runLabel.value && !live.has(v);
  });
}

/** Of the given runs, those whose objects (namespace, NodePool) say they started a Karpenter of their own (process mode), sorted. Pure. */
export function runsWithOwnKarpenter(carriers: Iterable<k8s.KubernetesObject>, runLabelKey: string, runs: ReadonlySet<string>): string[] {
  const own = new Set<string>();
  for (const o of carriers) {
    const id = o.metadata?.labels?.[runLabelKey];
    if (id !== undefined && runs.has(id) && o.metadata?.annotations?.[KARPENTER_MODE_ANNOTATION] === 'process') own.add(id);
  }
  return [...own].sort();
}
