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
 * look at which the pool is settled: every node Ready, none going), or fails naming the change. `expectUids`: the node UIDs the pool must hold
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
  const lookedAt = new Date();
  let startedAt = lookedAt;
  let timer: NodeJS.Timeout | undefined;
  const signal = AbortSignal.any([ctx.signal, window.signal]);
  let first: Map<string, NodeState> | undefined;
  let checkedUids = false;
  let unsettled: string | undefined;
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
          const uids = new Set(now.keys());
          if (!checkedUids && opts.expectUids && (uids.size !== opts.expectUids.size || [...opts.expectUids].some((u) => !uids.has(u)))) {
            const missing = [...opts.expectUids].filter((u) => !uids.has(u));
            throw new StageFailure(
              `Expected ${what}; at its start the pool was not what was reached: ${formatPoolState(now)}${missing.length ? ` (${missing.length} node(s) gone: uid ${missing.join(', ')})` : ''}`,
              "the pool changed right after the verdict: check Karpenter's log (diagnostics) for disruption or replacement of these nodes",
            );
          }
          checkedUids = true;
          // The window starts once the pool is settled (every node Ready, none going): a node's
          // Ready condition still being written as the verdict is taken is not a flap of the pool.
          if (![...now.values()].every((n) => n.ready && !n.deleting)) {
            unsettled ??= formatPoolState(now);
            return undefined;
          }
          first = now;
          startedAt = new Date();
          timer = setTimeout(() => window.abort(new Error('window passed')), opts.windowMs);
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
        output: `held ${formatDuration(opts.windowMs)} (${result.startedAt} .. ${result.endedAt}) without change: ${result.state}${unsettled ? `; the window started once the pool had settled, ${((startedAt.getTime() - lookedAt.getTime()) / 1000).toFixed(1)} s after its first look (${unsettled})` : ''}`,
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
