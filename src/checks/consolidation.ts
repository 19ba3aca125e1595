// Whether the NodePool's disruption settings let Karpenter consolidate the run's nodes at all,
// and how long that may take. Pure: read from the NodePool file before anything is applied, so
// a pool that can never shrink fails at once, naming the setting, instead of after the stage's
// whole timeout (issue 14, point 5).
import { STAGE_TIMEOUTS_MS } from '../defaults.js';
import type { NodePoolSpec } from '../types.js';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const at = (o: unknown, ...path: string[]): unknown => path.reduce<unknown>((v, k) => (isObj(v) ? v[k] : undefined), o);

/** Room on top of consolidateAfter: disruption poll 10 s, validation 15 s, node drain and deletion. */
export const CONSOLIDATION_MARGIN_MS = 60_000;

/** Karpenter's disruption reasons that can remove the run's nodes once the workload is gone. */
const EMPTY_NODE_REASONS = { WhenEmpty: ['Empty'], WhenEmptyOrUnderutilized: ['Empty', 'Underutilized'] } as const;

export type ConsolidationFeasibility =
  /** Karpenter can remove the nodes; consolidateAfter is what it waits first (0 when unset: the CRD's default). */
  | { kind: 'ok'; consolidateAfterMs: number }
  /** Possible, but consolidateAfter plus the margin exceeds the default stage timeout. */
  | { kind: 'slow'; consolidateAfterMs: number }
  /** Karpenter will never remove the nodes: `setting` is the field, `reason` says why in a sentence. */
  | { kind: 'impossible'; setting: string; reason: string };

/** "10s", "1m30s", "2h" (Karpenter's consolidateAfter pattern: whole s, m, h) -> ms; undefined when not one. */
export function parseKarpenterDuration(text: string): number | undefined {
  if (!/^(\d+(s|m|h))+$/.test(text)) return undefined;
  const unit: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000 };
  let ms = 0;
  for (const [, n, u] of text.matchAll(/(\d+)(s|m|h)/g)) ms += Number(n) * unit[u!]!;
  return ms;
}

/** The NodePool object of a parsed nodepool file. */
const nodePoolObject = (pool: Pick<NodePoolSpec, 'manifests'>): Obj | undefined => pool.manifests.find((m) => m.kind === 'NodePool');

/** "0", "0%", 0: a budget that allows no node to be disrupted. */
const isZero = (nodes: unknown): boolean => (typeof nodes === 'number' ? nodes === 0 : typeof nodes === 'string' && /^0+%?$/.test(nodes.trim()));

/**
 * Whether consolidation can bring the pool back to its baseline after the workload is removed,
 * judged from the NodePool as written (fields it leaves out get the CRD's defaults:
 * consolidateAfter 0s, WhenEmptyOrUnderutilized, a 10 % budget). Decided only where the file
 * settles it: a budget with a schedule may open later, and pods that stay on the nodes (what
 * would hold WhenEmpty back) are not in the file, so both count as possible.
 */
export function consolidationFeasibility(pool: Pick<NodePoolSpec, 'manifests'>, defaultTimeoutMs = STAGE_TIMEOUTS_MS.consolidation): ConsolidationFeasibility {
  const np = nodePoolObject(pool);
  const after = at(np, 'spec', 'disruption', 'consolidateAfter');
  if (after === 'Never') {
    return { kind: 'impossible', setting: 'spec.disruption.consolidateAfter: Never', reason: 'Karpenter never consolidates the nodes of this NodePool' };
  }
  const afterMs = after === undefined ? 0 : parseKarpenterDuration(String(after));
  if (afterMs === undefined) {
    return {
      kind: 'impossible',
      setting: `spec.disruption.consolidateAfter: ${String(after)}`,
      reason: 'it is not a duration Karpenter accepts (whole s, m or h, e.g. 30s or 5m, or Never)',
    };
  }
  const doNotDisrupt = at(np, 'spec', 'template', 'metadata', 'annotations', 'karpenter.sh/do-not-disrupt');
  if (doNotDisrupt === 'true' || doNotDisrupt === true) {
    return {
      kind: 'impossible',
      setting: 'spec.template.metadata.annotations["karpenter.sh/do-not-disrupt"]: "true"',
      reason: 'every node of the NodePool carries the annotation, and Karpenter does not consolidate such nodes',
    };
  }
  const policy = at(np, 'spec', 'disruption', 'consolidationPolicy');
  const reasons: readonly string[] = policy === 'WhenEmpty' ? EMPTY_NODE_REASONS.WhenEmpty : EMPTY_NODE_REASONS.WhenEmptyOrUnderutilized;
  const blocked = zeroBudgetFor(at(np, 'spec', 'disruption', 'budgets'), reasons);
  if (blocked)
    return { kind: 'impossible', setting: blocked, reason: 'a budget of 0 nodes without a schedule lets Karpenter disrupt no node for consolidation' };
  return afterMs + CONSOLIDATION_MARGIN_MS > defaultTimeoutMs ? { kind: 'slow', consolidateAfterMs: afterMs } : { kind: 'ok', consolidateAfterMs: afterMs };
}

/**
 * The budget that stops every reason that could remove an empty node, or undefined. A budget
 * without `reasons` covers them all; one with a schedule is active only part of the time.
 */
function zeroBudgetFor(budgets: unknown, reasons: readonly string[]): string | undefined {
  if (!Array.isArray(budgets)) return undefined;
  const always = budgets.map((b: unknown, i) => ({ b, i })).filter(({ b }) => isObj(b) && b.schedule === undefined && isZero(b.nodes));
  const covers = (b: unknown, reason: string) => !isObj(b) || !Array.isArray(b.reasons) || b.reasons.includes(reason);
  if (!reasons.every((r) => always.some(({ b }) => covers(b, r)))) return undefined;
  const used = always.filter(({ b }) => reasons.some((r) => covers(b, r)));
  return used
    .map(
      ({ b, i }) =>
        `spec.disruption.budgets[${i}].nodes: "${String((b as Obj).nodes)}"${Array.isArray((b as Obj).reasons) ? ` (reasons ${((b as Obj).reasons as string[]).join(', ')})` : ''}`,
    )
    .join(', ');
}

/**
 * The consolidation stage's budget: the configured timeout, or consolidateAfter plus the margin
 * when the NodePool makes Karpenter wait longer than that (a slow pool is not a failure).
 */
export function consolidationTimeoutMs(configuredMs: number, feasibility: ConsolidationFeasibility): number {
  return feasibility.kind === 'impossible' ? configuredMs : Math.max(configuredMs, feasibility.consolidateAfterMs + CONSOLIDATION_MARGIN_MS);
}

/** The sentence for an input error or a stage failure: the setting, why, and what to do. */
export function describeInfeasible(f: Extract<ConsolidationFeasibility, { kind: 'impossible' }>): string {
  return `${f.setting}: ${f.reason}, so consolidation: require cannot pass; accepted: set consolidation: warn or skip, or change the NodePool's disruption settings (e.g. consolidateAfter: 30s, a budget above 0 nodes)`;
}
