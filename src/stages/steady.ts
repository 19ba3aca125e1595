// The stability window: after scale-out and after scale-in the pool must hold for a while. A
// watch over the pool's nodes that fails on any change (a node added, removed, replaced, being
// deleted, or changing Ready) until the window has passed; no sleeping.
import type * as k8s from '@kubernetes/client-node';
import { describeChange, formatPoolState, poolState, type NodeState } from '../checks/baseline.js';
import { NODEPOOL_LABEL } from '../checks/capacity.js';
import { formatDuration } from '../format.js';
import { NODES } from '../kube/paths.js';
import { watchUntil, WatchAbortedError } from '../kube/watch.js';
import { StageFailure, type StageContext } from './stage.js';

export interface SteadyResult {
  windowMs: number;
  /** The pool as it held. */
  state: string;
  startedAt: string;
  endedAt: string;
}

/**
 * Holds the stage until the NodePool's nodes have not changed for `windowMs` (from the first
 * list of the window), or fails naming the change. `expectUids`: the node UIDs the pool must hold
 * at the start of the window (the verdict just reached), checked on that first list.
 */
export async function holdSteady(
  ctx: Pick<StageContext, 'kube' | 'signal' | 'info' | 'evidence'>,
  opts: { pool: string; windowMs: number; after: string; expectUids?: ReadonlySet<string> },
): Promise<SteadyResult | undefined> {
  if (opts.windowMs <= 0) {
    ctx.evidence({ title: `Stability window ${opts.after}`, output: 'none (stability-window: 0): the verdict was taken when first reached' });
    return undefined;
  }
  const window = new AbortController();
  const startedAt = new Date();
  const timer = setTimeout(() => window.abort(new Error('window passed')), opts.windowMs);
  const signal = AbortSignal.any([ctx.signal, window.signal]);
  let first: Map<string, NodeState> | undefined;
  const since = () => `${((Date.now() - startedAt.getTime()) / 1000).toFixed(1)} s`;
  const what = `NodePool ${opts.pool} steady for ${formatDuration(opts.windowMs)} ${opts.after}`;
  try {
    await watchUntil<k8s.V1Node, never>(ctx.kube(), {
      path: NODES,
      labelSelector: `${NODEPOOL_LABEL}=${opts.pool}`,
      signal,
      describe: what,
      log: (m) => ctx.info(m),
      state: (items) => formatPoolState(poolState(items.values())),
      until: (items) => {
        const now = poolState(items.values());
        if (!first) {
          first = now;
          const uids = new Set(now.keys());
          if (opts.expectUids && (uids.size !== opts.expectUids.size || [...opts.expectUids].some((u) => !uids.has(u)))) {
            const missing = [...opts.expectUids].filter((u) => !uids.has(u));
            throw new StageFailure(
              `Expected ${what}; at its start the pool was not what was reached: ${formatPoolState(now)}${missing.length ? ` (${missing.length} node(s) gone: uid ${missing.join(', ')})` : ''}`,
              "the pool changed right after the verdict: check Karpenter's log (diagnostics) for disruption or replacement of these nodes",
            );
          }
          return undefined;
        }
        const change = describeChange(first, now);
        if (change) {
          throw new StageFailure(
            `Expected ${what}; it changed after ${since()}: ${change} (held: ${formatPoolState(first)})`,
            `a flapping pool: check Karpenter's log and the NodeClaims (diagnostics) for disruption, drift or failed launches; the window is the stability-window input`,
          );
        }
        return undefined;
      },
    });
    throw new Error('unreachable: the window watch returns only by abort');
  } catch (e) {
    if (e instanceof WatchAbortedError && window.signal.aborted && !ctx.signal.aborted) {
      const result = {
        windowMs: opts.windowMs,
        state: formatPoolState(first ?? new Map()),
        startedAt: startedAt.toISOString(),
        endedAt: new Date().toISOString(),
      };
      ctx.evidence({
        title: `Stability window ${opts.after}`,
        command: `kubectl get nodes -l ${NODEPOOL_LABEL}=${opts.pool} --watch`,
        output: `held ${formatDuration(opts.windowMs)} (${result.startedAt} .. ${result.endedAt}) without change: ${result.state}`,
      });
      return result;
    }
    if (e instanceof WatchAbortedError) {
      throw new StageFailure(
        `Expected ${what}; not over before ${ctx.signal.aborted ? 'the stage timeout' : 'the end'}. Last seen: ${e.lastState}`,
        'raise the stage timeout or lower stability-window',
      );
    }
    throw e;
  } finally {
    clearTimeout(timer);
  }
}
