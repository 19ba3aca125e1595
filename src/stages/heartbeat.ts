// Keeps this run's heartbeat fresh on the objects that stand for it (its namespace once created,
// the NodePools it created), so other runs on the cluster can tell a live run from a leftover
// (src/checks/liveness.ts). Best effort: a beat that fails is tried again at the next tick.
import * as k8s from '@kubernetes/client-node';
import { HEARTBEAT_INTERVAL_MS, heartbeatPatch } from '../checks/liveness.js';
import type { RunState } from '../types.js';
import { FIELD_MANAGER } from '../kube/apply.js';
import type { Kube } from '../kube/client.js';

/** The objects that carry this run's beat, as far as the run has created them. Pure. */
export function heartbeatCarriers(run: RunState): k8s.KubernetesObject[] {
  const namespace = run.namespaceCreatedAt ? [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: run.namespace } }] : [];
  const pools = run.appliedClusterObjects
    .filter((o) => o.kind === 'NodePool')
    .map((o) => ({ apiVersion: o.apiVersion, kind: o.kind, metadata: { name: o.name } }));
  return [...namespace, ...pools];
}

/**
 * Renews the beat on every carrier now; returns how many took it. Objects already gone are
 * skipped. One request each, not asked again through a restart: the next tick is the retry.
 */
export async function beat(api: k8s.KubernetesObjectApi, run: RunState, now = new Date()): Promise<number> {
  const patch = heartbeatPatch(now);
  const results = await Promise.allSettled(
    heartbeatCarriers(run).map((o) =>
      api.patch({ ...o, metadata: { ...o.metadata, ...patch.metadata } }, undefined, undefined, FIELD_MANAGER, undefined, k8s.PatchStrategy.MergePatch),
    ),
  );
  return results.filter((r) => r.status === 'fulfilled').length;
}

/** Beats every HEARTBEAT_INTERVAL_MS while the run goes on, once a client exists; returns stop(). */
export function startHeartbeat(kube: () => Kube | undefined, run: RunState, intervalMs = HEARTBEAT_INTERVAL_MS): () => Promise<void> {
  let inFlight: Promise<unknown> = Promise.resolve();
  let api: k8s.KubernetesObjectApi | undefined;
  const timer = setInterval(() => {
    const k = kube();
    if (!k) return;
    api ??= k8s.KubernetesObjectApi.makeApiClient(k.kc);
    const client = api;
    inFlight = inFlight.then(() => beat(client, run)).catch(() => undefined);
  }, intervalMs);
  // The beat never keeps the process alive on its own.
  timer.unref();
  return async () => {
    clearInterval(timer);
    // A beat under way is let finish (briefly) so none lands after the run has ended.
    await Promise.race([inFlight, new Promise((resolve) => setTimeout(resolve, 2000).unref())]);
  };
}
