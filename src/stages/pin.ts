// The n-plus-one baseline's pins: the karpenter.sh/do-not-disrupt annotation on the baseline
// nodes for the run, so Karpenter's consolidation can only take the trigger's node. The run
// records each node it annotates before the patch is sent; cleanup (and the post step, from the
// saved state) removes exactly those annotations, never one the node had before the run. Each pin
// carries the run's id in a label (PINNED_BY_LABEL): the pins of a run that died before any
// cleanup are leftovers a later run's preflight finds (and removes, with cleanup-stale).
import { DO_NOT_DISRUPT, PINNED_BY_LABEL } from '../checks/nplusone.js';
import type { Kube } from '../kube/client.js';
import { NODES } from '../kube/paths.js';
import { rawRequest, type RawOptions } from '../kube/raw.js';
import type { RunState } from '../types.js';

/** The pin of run `runId` put on a node, or (null) taken off. */
const pinPatch = (runId: string | null): RawOptions => ({
  method: 'PATCH',
  body: {
    text: JSON.stringify({ metadata: { annotations: { [DO_NOT_DISRUPT]: runId === null ? null : 'true' }, labels: { [PINNED_BY_LABEL]: runId } } }),
    contentType: 'application/merge-patch+json',
  },
});

/** Takes a run's pin off a node; false when the node is gone. */
export async function unpinNode(kube: Kube, name: string): Promise<boolean> {
  const r = await rawRequest(kube, `${NODES}/${name}`, pinPatch(null));
  if (r.status >= 300 && r.status !== 404) throw new Error(`removing ${DO_NOT_DISRUPT} from node ${name} answered HTTP ${r.status}: ${r.text.slice(0, 200)}`);
  return r.status < 300;
}

/**
 * Annotates the nodes karpenter.sh/do-not-disrupt: "true" (labelled with the run id). A node that already carries the
 * annotation is left as it is and not recorded (it is not the run's to remove). `record` saves
 * the run state (for the post step) before each patch goes out.
 */
export async function pinNodes(
  kube: Kube,
  run: Pick<RunState, 'pinnedNodes' | 'runId'>,
  names: string[],
  record: () => void,
): Promise<{ pinned: string[]; already: string[] }> {
  const pinned: string[] = [];
  const already: string[] = [];
  for (const name of names) {
    const node = await kube.core.readNode({ name });
    if (node.metadata?.annotations?.[DO_NOT_DISRUPT] !== undefined) {
      already.push(`${name} (${DO_NOT_DISRUPT}=${node.metadata.annotations[DO_NOT_DISRUPT]} before the run)`);
      continue;
    }
    run.pinnedNodes = [...new Set([...(run.pinnedNodes ?? []), name])];
    record();
    const r = await rawRequest(kube, `${NODES}/${name}`, pinPatch(run.runId));
    if (r.status >= 300) throw new Error(`annotating node ${name} ${DO_NOT_DISRUPT}=true answered HTTP ${r.status}: ${r.text.slice(0, 200)}`);
    pinned.push(name);
  }
  return { pinned, already };
}

/**
 * Removes the annotation from the nodes the run pinned (gone nodes need nothing) and forgets
 * them. Returns the nodes unpinned; throws, keeping the rest recorded, when a patch is refused.
 */
export async function unpinNodes(kube: Kube, run: Pick<RunState, 'pinnedNodes'>, record: () => void): Promise<string[]> {
  const done: string[] = [];
  for (const name of [...(run.pinnedNodes ?? [])]) {
    if (await unpinNode(kube, name)) done.push(name);
    run.pinnedNodes = run.pinnedNodes!.filter((n) => n !== name);
    record();
  }
  if (run.pinnedNodes?.length === 0) delete run.pinnedNodes;
  record();
  return done;
}
