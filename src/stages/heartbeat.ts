// Keeps this run's Lease (coordination.k8s.io/v1, in the run's namespace) renewed, so other runs
// on the cluster can tell a live run from a leftover (src/checks/liveness.ts, which also says
// why liveness is judged on the API server's clock). Best effort: a renewal that fails is tried
// again at the next tick.
//
// Where the Lease lives: the run's namespace, made with the Lease just before the workload stage
// (Stage.makesRunNamespace), which is when a run first makes what another run could take for a
// leftover (its namespace, then its NodeClaims); consolidation leaves the namespace to cleanup,
// and the Lease goes with it. Not earlier: a namespace cannot be deleted while an aggregated API
// is unavailable (the namespace controller cannot list its resources), and a broken metrics
// adapter is how a run fails in metric, before workload; made there, the failed run's cleanup
// would hang on it. The price: from karpenter-install to workload a run's NodePool and Karpenter
// carry no live Lease, so a process-mode run started in that window does not see the first run's
// Karpenter as live (preflight still sees its CRDs and NodePool; leftovers are only namespaces
// and NodeClaims, which that run does not have yet).
import { iso } from '../checks/conditions.js';
import { HEARTBEAT_INTERVAL_MS, renewedLease, runLease, type Lease } from '../checks/liveness.js';
import { runNamespace } from '../checks/workload.js';
import { applyObject, FIELD_MANAGER } from '../kube/apply.js';
import type { Kube } from '../kube/client.js';
import { leasesIn } from '../kube/paths.js';
import { ApiError, rawRequest } from '../kube/raw.js';
import type { Config, RunState } from '../types.js';
import { StageFailure } from './stage.js';

/** The path of the run's Lease (named as its namespace). Pure. */
export const leasePath = (run: Pick<RunState, 'namespace'>): string => `${leasesIn(run.namespace)}/${run.namespace}`;

const json = (o: unknown) => ({ text: JSON.stringify(o), contentType: 'application/json' });

/**
 * Makes the run's namespace (labelled for the run, as the workload applies it) and its Lease,
 * and records the namespace's creation (cleanup and post remove it). A Lease already there (the
 * same run id again) is taken over. Returns the Lease as the server has it.
 */
export async function holdRunLease(kube: Kube, config: Pick<Config, 'karpenterMode'>, run: RunState, signal?: AbortSignal, now = new Date()): Promise<Lease> {
  const ns = await applyObject(kube, runNamespace(config, run), { signal });
  run.namespaceCreatedAt ??= iso(ns.metadata?.creationTimestamp) ?? now.toISOString();
  const path = leasesIn(run.namespace);
  const created = await rawRequest(kube, path, { method: 'POST', query: { fieldManager: FIELD_MANAGER }, body: json(runLease(run, now)), signal });
  if (created.status === 409) {
    const held = await renewLease(kube, run, undefined, signal, now);
    if (held) return held;
  }
  if (created.status < 200 || created.status >= 300) throw new ApiError(created.status, path, created.text, 'POST');
  return created.body as Lease;
}

/**
 * Renews the Lease: one PUT of the last Lease seen (its resourceVersion guards the update), or,
 * without one (the post step; after a conflict), a GET first. Returns the renewed Lease, or
 * undefined when the renewal did not take (the next tick reads the Lease afresh).
 */
export async function renewLease(kube: Kube, run: RunState, held: Lease | undefined, signal?: AbortSignal, now = new Date()): Promise<Lease | undefined> {
  const path = leasePath(run);
  let current = held;
  if (!current) {
    const r = await rawRequest(kube, path, { signal });
    if (r.status !== 200) return undefined;
    current = r.body as Lease;
  }
  const r = await rawRequest(kube, path, { method: 'PUT', query: { fieldManager: FIELD_MANAGER }, body: json(renewedLease(current, now)), signal });
  return r.status === 200 ? (r.body as Lease) : undefined;
}

export interface Heartbeat {
  /** Makes the run's namespace and Lease unless made already; renewals start then. */
  hold(kube: Kube, config: Pick<Config, 'karpenterMode'>, signal?: AbortSignal): Promise<void>;
  /** Stops renewing (the Lease goes with the namespace at cleanup). */
  stop(): Promise<void>;
}

/**
 * Renews the run's Lease every HEARTBEAT_INTERVAL_MS once it exists (hold(), or a namespace the
 * saved run state says main made: the post step renews it too). One renewal at a time: a tick
 * that finds one under way is skipped.
 */
export function startHeartbeat(kube: () => Kube | undefined, run: RunState, intervalMs = HEARTBEAT_INTERVAL_MS): Heartbeat {
  let lease: Lease | undefined;
  let held = false;
  let inFlight: Promise<unknown> | undefined;
  const timer = setInterval(() => {
    const k = kube();
    if (!k || !run.namespaceCreatedAt || inFlight) return;
    inFlight = renewLease(k, run, lease, AbortSignal.timeout(intervalMs))
      .then((renewed) => (lease = renewed))
      .catch(() => (lease = undefined))
      .finally(() => (inFlight = undefined));
  }, intervalMs);
  // The heartbeat never keeps the process alive on its own.
  timer.unref();
  return {
    async hold(k, config, signal) {
      if (held) return;
      // A renewal under way is let finish first, and none starts meanwhile (ticks skip while one is in flight).
      await inFlight;
      const making = holdRunLease(k, config, run, signal).catch((e: unknown) => {
        throw new StageFailure(
          `Expected this run's namespace ${run.namespace} and its Lease made before the run changes the cluster (other runs tell a live run from a leftover by it); ${(e as Error).message}`,
          'check the identity may create namespaces and create/update leases.coordination.k8s.io in it (docs/rbac.md)',
        );
      });
      inFlight = making.catch(() => undefined).finally(() => (inFlight = undefined));
      lease = await making;
      held = true;
    },
    async stop() {
      clearInterval(timer);
      // A renewal under way is let finish (briefly) so none lands after the run has ended.
      await Promise.race([inFlight, new Promise((resolve) => setTimeout(resolve, 2000).unref())]);
    },
  };
}
