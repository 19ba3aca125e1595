// Which NodeClaims are this run's: shared by provision, consolidation and cleanup.
import type { RunIdentity } from '../checks/capacity.js';
import { iso } from '../checks/conditions.js';
import { WORKLOAD_NAME } from '../checks/workload.js';
import type { Kube } from '../kube/client.js';
import type { Config, RunState } from '../types.js';

/**
 * This run's identity for NodeClaims: the pool, the run label, and the creation time of the run's
 * Deployment; without the baseline NodeClaims the run made (n-plus-one) unless `withBaseline`
 * (cleanup removes those too).
 */
export async function runIdentity(kube: Kube, config: Config, run: RunState, opts: { withBaseline?: boolean } = {}): Promise<RunIdentity> {
  if (!run.workloadCreatedAt) {
    try {
      run.workloadCreatedAt = iso((await kube.apps.readNamespacedDeployment({ name: WORKLOAD_NAME, namespace: run.namespace })).metadata?.creationTimestamp);
    } catch {
      // Workload never made or already gone, and not recorded: only labelled claims count.
    }
  }
  const poolIsRuns = run.appliedClusterObjects.some((o) => o.kind === 'NodePool' && o.name === config.nodePool.name);
  const exclude = opts.withBaseline ? undefined : run.baselineNodeClaims;
  return { pool: config.nodePool.name, runLabel: run.runLabel, since: run.workloadCreatedAt, poolIsRuns, ...(exclude?.length ? { exclude } : {}) };
}
