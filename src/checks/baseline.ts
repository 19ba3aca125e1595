// Node identities of the NodePool: the baseline the run started from (names and UIDs), whether
// it survived, and whether the pool held steady over a window. Pure.
import type * as k8s from '@kubernetes/client-node';
import { isNodeReady } from './capacity.js';

export interface NodeId {
  name: string;
  uid: string;
}

export const nodeIdOf = (n: k8s.V1Node): NodeId => ({ name: n.metadata?.name ?? '?', uid: n.metadata?.uid ?? '' });

const formatId = (n: NodeId) => `${n.name} (uid ${n.uid})`;
export const formatIds = (ids: NodeId[]): string => ids.map(formatId).join(', ') || '(none)';

export interface BaselineVerdict {
  /** Every baseline node present, not being deleted, and no other node in the pool. */
  ok: boolean;
  /** Baseline nodes gone or being deleted: never to come back (a new node is a new UID). */
  gone: { node: NodeId; how: string }[];
  /** Pool nodes that are not baseline nodes (the run's, or replacements). */
  extra: NodeId[];
  detail: string;
}

/**
 * The pool's nodes against the baseline by identity: a baseline node missing, replaced (same
 * name, new UID) or being deleted is `gone`; any node not in the baseline is `extra`. Pure.
 */
export function judgeBaseline(baseline: NodeId[], nodes: Iterable<k8s.V1Node>): BaselineVerdict {
  const byUid = new Map<string, k8s.V1Node>();
  const byName = new Map<string, k8s.V1Node>();
  for (const n of nodes) {
    byUid.set(n.metadata?.uid ?? '', n);
    byName.set(n.metadata?.name ?? '', n);
  }
  const baseUids = new Set(baseline.map((b) => b.uid));
  const gone: BaselineVerdict['gone'] = [];
  for (const b of baseline) {
    const n = byUid.get(b.uid);
    if (n?.metadata?.deletionTimestamp) gone.push({ node: b, how: `being deleted since ${new Date(n.metadata.deletionTimestamp).toISOString()}` });
    else if (!n) {
      const same = byName.get(b.name);
      gone.push({ node: b, how: same ? `replaced by a new node of the same name (uid ${same.metadata?.uid})` : 'removed' });
    }
  }
  const extra = [...byUid.values()].filter((n) => !baseUids.has(n.metadata?.uid ?? '')).map(nodeIdOf);
  const ok = gone.length === 0 && extra.length === 0;
  const parts = [`${baseline.length - gone.length}/${baseline.length} baseline node(s) intact`];
  if (gone.length) parts.push(`baseline node(s) ${gone.map((g) => `${formatId(g.node)} ${g.how}`).join('; ')}`);
  parts.push(extra.length ? `${extra.length} other node(s) in the pool: ${extra.map((e) => e.name).join(', ')}` : 'no other node in the pool');
  return { ok, gone, extra, detail: parts.join('; ') };
}

/** What a node of the pool looks like for the stability window: identity, Ready, being deleted. */
export interface NodeState extends NodeId {
  ready: boolean;
  deleting: boolean;
}

/** The pool's nodes by UID, as the stability window compares them. Pure. */
export function poolState(nodes: Iterable<k8s.V1Node>): Map<string, NodeState> {
  const out = new Map<string, NodeState>();
  for (const n of nodes) {
    const id = nodeIdOf(n);
    out.set(id.uid, { ...id, ready: isNodeReady(n), deleting: !!n.metadata?.deletionTimestamp });
  }
  return out;
}

/** What changed between two states of the pool, one clause per node, or undefined when nothing did. Pure. */
export function describeChange(before: ReadonlyMap<string, NodeState>, after: ReadonlyMap<string, NodeState>): string | undefined {
  const changes: string[] = [];
  for (const [uid, b] of before) {
    const a = after.get(uid);
    if (!a) changes.push(`node ${formatId(b)} removed`);
    else if (a.deleting && !b.deleting) changes.push(`node ${b.name} being deleted`);
    else if (a.ready !== b.ready) changes.push(`node ${b.name} became ${a.ready ? 'Ready' : 'NotReady'}`);
  }
  for (const [uid, a] of after) if (!before.has(uid)) changes.push(`node ${formatId(a)} added`);
  return changes.length ? changes.join('; ') : undefined;
}

export const formatPoolState = (s: ReadonlyMap<string, NodeState>): string =>
  [...s.values()].map((n) => `${n.name}${n.ready ? '' : ' NotReady'}${n.deleting ? ' deleting' : ''}`).join(', ') || '(no nodes)';
