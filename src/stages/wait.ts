import type * as k8s from '@kubernetes/client-node';
import { StageFailure, type StageContext } from './stage.js';
import { karpenterLost } from '../tools/karpenter-process.js';
import type { RunState, StageName } from '../types.js';
import { backoff } from '../kube/transient.js';
import { watchUntil, WatchAbortedError, type WatchUntilOptions } from '../kube/watch.js';

/** What a failed wait tells the user: what was expected and what to check next (the last state seen is added). */
export interface WaitStory {
  expected: string;
  next: string;
  /** The wait does not need Karpenter (cleanup): do not end it when the run's Karpenter process exits. */
  withoutKarpenter?: boolean;
}

/**
 * watchUntil for a stage: progress into the stage's log, the stage's signal, and an abort turned
 * into a StageFailure saying what was expected, what was seen last and what to check next.
 */
export async function waitFor<T extends k8s.KubernetesObject, R>(
  ctx: Pick<StageContext, 'kube' | 'signal' | 'info'> & { run?: Pick<RunState, 'karpenterPid'> },
  opts: Omit<WatchUntilOptions<T, R>, 'signal' | 'log'>,
  story: WaitStory,
): Promise<R> {
  // A Karpenter child that dies mid-run ends the wait at once, naming its exit, not at the stage
  // timeout; cleanup's waits (marked by withSoftDeadline) go on: they must outlive it.
  const lost = story.withoutKarpenter || (ctx as { stage?: StageName }).stage === 'cleanup' || !ctx.run ? undefined : karpenterLost(ctx.run);
  const signal = lost ? AbortSignal.any([ctx.signal, lost]) : ctx.signal;
  try {
    return await watchUntil<T, R>(ctx.kube(), { ...opts, signal, log: (m) => ctx.info(m) });
  } catch (e) {
    if (e instanceof WatchAbortedError) {
      throw new StageFailure(`Expected ${story.expected}; not seen before ${reasonOf(e)}. Last seen: ${e.lastState}`, story.next);
    }
    throw e;
  }
}

const reasonOf = (e: WatchAbortedError) =>
  e.message
    .slice(e.describe.length + 2)
    .split('; last seen')[0]!
    .replace(/^not reached before /, '');

/**
 * For APIs that cannot be watched (aggregated discovery, external metrics): re-asks until
 * `check` returns a result, with a short growing backoff, honouring the stage's signal. A
 * health probe, not a timed wait: it returns on the first answer that holds.
 */
export async function probeUntil<R>(
  ctx: Pick<StageContext, 'signal' | 'info'>,
  check: () => Promise<{ result?: R; state: string }>,
  story: WaitStory,
): Promise<R> {
  let last = '(no answer yet)';
  let lastLog = Date.now();
  for (let attempt = 0; ; attempt++) {
    if (ctx.signal.aborted) throw new StageFailure(`Expected ${story.expected}; not seen before the stage timeout. Last seen: ${last}`, story.next);
    try {
      const r = await check();
      last = r.state;
      if (r.result !== undefined) return r.result;
    } catch (e) {
      last = (e as Error).message;
    }
    if (Date.now() - lastLog > 15_000) {
      ctx.info(`waiting for ${story.expected}: ${last}`);
      lastLog = Date.now();
    }
    await backoff(attempt, ctx.signal);
  }
}

/** How long before the runner's hard stage timeout a stage's own waits give up, so its failure message (or warn) wins. */
export const softMarginMs = (timeoutMs: number): number => Math.min(10_000, Math.max(1000, Math.round(timeoutMs * 0.05)));

/**
 * The stage's context with a signal that aborts a little before the runner's stage timeout:
 * the runner rejects a stage that outlives its timeout with a bare "timed out"; ending first
 * lets the stage say what it expected and saw (or pass with a warning under consolidation: warn).
 */
export function withSoftDeadline(ctx: StageContext, stage: StageName): StageContext {
  const ms = ctx.config.timeouts[stage];
  if (!ms) return ctx;
  // `stage` lets waitFor tell cleanup apart: its waits outlive the run's Karpenter on purpose.
  return { ...ctx, stage, signal: AbortSignal.any([ctx.signal, AbortSignal.timeout(Math.max(1, ms - softMarginMs(ms)))]) } as StageContext;
}

/**
 * Runs waits that stand or fall together: each gets a signal that aborts when the stage's does or
 * when any of them fails; the first failure is thrown only once every other has stopped, so no
 * wait goes on watching (and logging into later stages' groups) after the stage has failed.
 */
export async function allOrNothing<R extends unknown[]>(signal: AbortSignal, waits: { [K in keyof R]: (signal: AbortSignal) => Promise<R[K]> }): Promise<R> {
  const together = new AbortController();
  const shared = AbortSignal.any([signal, together.signal]);
  let first: { error: unknown } | undefined;
  const settled = await Promise.allSettled(
    (waits as ((s: AbortSignal) => Promise<unknown>)[]).map((w) =>
      w(shared).catch((error: unknown) => {
        first ??= { error };
        together.abort();
        throw error;
      }),
    ),
  );
  together.abort();
  if (first) throw first.error;
  return settled.map((r) => (r as PromiseFulfilledResult<unknown>).value) as R;
}
