// Keeps this run's Lease (coordination.k8s.io/v1) renewed, so other runs on the cluster can tell
// a live run from a leftover (src/checks/liveness.ts, which also says why liveness is judged on
// the API server's clock). Best effort: a renewal that fails is tried again at the next tick.
//
// Where the Lease lives: the lease namespace (input lease-namespace, `default`), not the run's
// own. The run's namespace can then go with the workload when consolidation starts (the namespace
// controller waits 5 s before it empties a namespace: that wait overlaps consolidation instead of
// adding to cleanup), while the Lease still tells other runs that the NodePool and NodeClaims
// left are this run's. Cleanup deletes the Lease last, once nothing of the run is left.
//
// When: with the run's namespace, just before the workload stage (Stage.makesRunNamespace), which
// is when a run first makes what another run could take for a leftover (its namespace, then its
// NodeClaims). Not earlier: a namespace cannot be deleted while an aggregated API is unavailable
// (the namespace controller cannot list its resources), and a broken metrics adapter is how a run
// fails in metric, before workload; made there, the failed run's cleanup would hang on it. The
// price: from karpenter-install to workload a run's NodePool and Karpenter carry no live Lease, so
// a process-mode run started in that window does not see the first run's Karpenter as live
// (preflight still sees its CRDs and NodePool; leftovers are only namespaces, NodeClaims and
// Leases, which that run does not have yet).
import { iso } from '../checks/conditions.js';
import { HEARTBEAT_INTERVAL_MS, renewedLease, runLease, type Lease } from '../checks/liveness.js';
import { runNamespace } from '../checks/workload.js';
import { applyObject, FIELD_MANAGER } from '../kube/apply.js';
import type { Kube } from '../kube/client.js';
import { leasesIn } from '../kube/paths.js';
import { ApiError, rawRequest } from '../kube/raw.js';
import type { Config, RunState } from '../types.js';
import { StageFailure } from './stage.js';

/** The path of the run's Lease in the lease namespace (named as the run's namespace). Pure. */
export const leasePath = (run: Pick<RunState, 'namespace'>, leaseNamespace: string): string => `${leasesIn(leaseNamespace)}/${run.namespace}`;

const json = (o: unknown) => ({ text: JSON.stringify(o), contentType: 'application/json' });

type HoldConfig = Pick<Config, 'karpenterMode' | 'leaseNamespace'>;

/**
 * Makes the run's Lease, then the run's namespace (labelled for the run, as the workload applies
 * it): the namespace is never there without a live Lease. Where the Lease goes is recorded (and
 * `recorded` called to save it) before it is sent, the namespace's creation once made: cleanup and
 * post remove both. A Lease already there (the same run id again) is taken over. Returns the
 * Lease as the server has it.
 */
export async function holdRunLease(
  kube: Kube,
  config: HoldConfig,
  run: RunState,
  signal?: AbortSignal,
  now = new Date(),
  recorded: () => void = () => undefined,
): Promise<Lease> {
  run.leaseNamespace = config.leaseNamespace;
  recorded();
  const path = leasesIn(config.leaseNamespace);
  const created = await rawRequest(kube, path, {
    method: 'POST',
    query: { fieldManager: FIELD_MANAGER },
    body: json(runLease(run, config.leaseNamespace, now)),
    signal,
  });
  const refused = () => new ApiError(created.status, path, created.text, 'POST');
  if (created.status !== 409 && (created.status < 200 || created.status >= 300)) throw refused();
  const lease = created.status === 409 ? await renewLease(kube, run, undefined, signal, now) : (created.body as Lease);
  if (!lease) throw refused();
  const ns = await applyObject(kube, runNamespace(config, run), { signal });
  run.namespaceCreatedAt ??= iso(ns.metadata?.creationTimestamp) ?? now.toISOString();
  return lease;
}

/**
 * Renews the Lease: one PUT of the last Lease seen (its resourceVersion guards the update), or,
 * without one (the post step; after a conflict), a GET first. Returns the renewed Lease, or
 * undefined when the renewal did not take (the next tick reads the Lease afresh) or the run has
 * no Lease.
 */
export async function renewLease(kube: Kube, run: RunState, held: Lease | undefined, signal?: AbortSignal, now = new Date()): Promise<Lease | undefined> {
  if (!run.leaseNamespace) return undefined;
  const path = leasePath(run, run.leaseNamespace);
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
  /** Makes the run's Lease and namespace unless made already; renewals start then. `recorded` saves the run state. */
  hold(kube: Kube, config: HoldConfig, signal?: AbortSignal, recorded?: () => void): Promise<void>;
  /** Stops renewing (cleanup deletes the Lease). */
  stop(): Promise<void>;
}

/**
 * Renews the run's Lease every HEARTBEAT_INTERVAL_MS once it exists (hold(), or a Lease the
 * saved run state says main made: the post step renews it too, until its cleanup deletes it).
 * One renewal at a time: a tick that finds one under way is skipped.
 */
export function startHeartbeat(kube: () => Kube | undefined, run: RunState, intervalMs = HEARTBEAT_INTERVAL_MS): Heartbeat {
  let lease: Lease | undefined;
  let held = false;
  let inFlight: Promise<unknown> | undefined;
  const timer = setInterval(() => {
    const k = kube();
    if (!k || !run.leaseNamespace || inFlight) return;
    inFlight = renewLease(k, run, lease, AbortSignal.timeout(intervalMs))
      .then((renewed) => (lease = renewed))
      .catch(() => (lease = undefined))
      .finally(() => (inFlight = undefined));
  }, intervalMs);
  // The heartbeat never keeps the process alive on its own.
  timer.unref();
  return {
    async hold(k, config, signal, recorded) {
      if (held) return;
      // A renewal under way is let finish first, and none starts meanwhile (ticks skip while one is in flight).
      await inFlight;
      const making = holdRunLease(k, config, run, signal, new Date(), recorded).catch((e: unknown) => {
        throw new StageFailure(
          `Expected this run's Lease (in namespace ${config.leaseNamespace}, input lease-namespace) and its namespace ${run.namespace} made before the run changes the cluster (other runs tell a live run from a leftover by the Lease); ${(e as Error).message}`,
          `check namespace ${config.leaseNamespace} exists and the identity may create/update leases.coordination.k8s.io in it and create namespaces (docs/rbac.md)`,
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
