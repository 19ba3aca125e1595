// Which runs on a cluster are still running. Every run stamps a heartbeat annotation on the
// objects that stand for it (its namespace, the NodePool it created) while its main step runs;
// objects of another run id whose run shows no recent beat are leftovers of a run that ended
// without cleaning up. Without this, two runs at once would each take the other for a leftover
// (and cleanup-stale would delete a live run's namespace).
import type * as k8s from '@kubernetes/client-node';

export const HEARTBEAT_ANNOTATION = 'gpu-autoscaling-conformance/heartbeat';
/** How often a running run renews its beat. */
export const HEARTBEAT_INTERVAL_MS = 5_000;
/** A run whose newest beat is older than this has stopped: 4 missed beats, and room for clock skew between runners. */
export const HEARTBEAT_STALE_MS = 20_000;

/** Set at creation on the same objects: how the run provides Karpenter (process mode starts one of its own). */
export const KARPENTER_MODE_ANNOTATION = 'gpu-autoscaling-conformance/karpenter-mode';

type RunLabel = { key: string; value: string };

/** The newest sign of life of an object: its heartbeat annotation or its creation, in ms. Pure. */
export function lastBeat(o: k8s.KubernetesObject): number | undefined {
  const times = [o.metadata?.annotations?.[HEARTBEAT_ANNOTATION], o.metadata?.creationTimestamp]
    .map((t) => (t === undefined ? NaN : new Date(t).getTime()))
    .filter((t) => !Number.isNaN(t));
  return times.length ? Math.max(...times) : undefined;
}

/** Run ids (values of the run label) with a beat on any of their objects within the stale window. Pure. */
export function liveRuns(carriers: Iterable<k8s.KubernetesObject>, runLabelKey: string, now: number, staleMs = HEARTBEAT_STALE_MS): Set<string> {
  const live = new Set<string>();
  for (const o of carriers) {
    const id = o.metadata?.labels?.[runLabelKey];
    const beat = lastBeat(o);
    if (id !== undefined && beat !== undefined && now - beat < staleMs) live.add(id);
  }
  return live;
}

/** Objects of another run that is no longer running: leftovers. Pure. */
export function staleObjects<T extends k8s.KubernetesObject>(objs: Iterable<T>, runLabel: RunLabel, live: ReadonlySet<string> = new Set()): T[] {
  return [...objs].filter((o) => {
    const v = o.metadata?.labels?.[runLabel.key];
    return v !== undefined && v !== runLabel.value && !live.has(v);
  });
}

/** The merge patch that renews a beat. Pure. */
export const heartbeatPatch = (now: Date) => ({ metadata: { annotations: { [HEARTBEAT_ANNOTATION]: now.toISOString() } } });

/** Of the given runs, those whose objects say they started a Karpenter of their own (process mode), sorted. Pure. */
export function runsWithOwnKarpenter(carriers: Iterable<k8s.KubernetesObject>, runLabelKey: string, runs: ReadonlySet<string>): string[] {
  const own = new Set<string>();
  for (const o of carriers) {
    const id = o.metadata?.labels?.[runLabelKey];
    if (id !== undefined && runs.has(id) && o.metadata?.annotations?.[KARPENTER_MODE_ANNOTATION] === 'process') own.add(id);
  }
  return [...own].sort();
}
