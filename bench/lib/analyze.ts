// What one run's results.json says about latency and overhead. Pure: results in, figures out.
import type { Results } from '../../src/evidence/model.js';
import type { StageName, TimelineEntry, TimelineEvent } from '../../src/types.js';

/** The timeline points that complete each waiting stage; the latest of them (cluster time) is the stage's condition. */
export const STAGE_CONDITION: Partial<Record<StageName, TimelineEvent[]>> = {
  metric: ['metric-first-seen'],
  hpa: ['hpa-scale-decision'],
  pending: ['first-pod-unschedulable'],
  provision: ['nodeclaim-initialized', 'node-ready'],
  schedule: ['last-pod-running'],
  consolidation: ['last-node-gone'],
};

const ms = (iso: string | undefined): number | undefined => (iso ? Date.parse(iso) : undefined);

/** True when the entry's cluster time is really the action's receipt time (no cluster timestamp was available). */
export const isReceiptTime = (e: TimelineEntry): boolean => /receipt|request time/.test(e.source);

export interface StageLatency {
  stage: StageName;
  event: TimelineEvent;
  source: string;
  /** Action saw it (watch event / answer receipt) minus the cluster's time for it (or the stage's start, when later). */
  seenMs?: number;
  /** Stage recorded as passed minus the moment the action saw it. */
  passAfterSeenMs?: number;
  /** Stage recorded as passed minus the cluster's time (or the stage's start, when later). */
  passMs: number;
  /**
   * The condition already held when the stage began (an earlier stage was still waiting): the
   * stages check in chain order, so latency counts from the stage's start.
   */
  heldAtStart: boolean;
}

/** Per waiting stage: cluster time of its condition against when the action saw it and passed the stage. */
export function stageLatencies(r: Results): StageLatency[] {
  const out: StageLatency[] = [];
  for (const [stage, events] of Object.entries(STAGE_CONDITION) as [StageName, TimelineEvent[]][]) {
    const rec = r.stages.find((s) => s.name === stage && s.status === 'pass');
    const e = r.timeline
      .filter((t) => events.includes(t.event) && !isReceiptTime(t))
      .sort((a, b) => a.at.localeCompare(b.at) || (a.observedAt ?? '').localeCompare(b.observedAt ?? ''))
      .at(-1);
    if (!rec || !e) continue;
    const event = e.event;
    const started = ms(rec.startedAt)!;
    const from = Math.max(ms(e.at)!, started);
    const seen = ms(e.observedAt);
    const passed = ms(rec.finishedAt)!;
    out.push({
      stage,
      event,
      source: e.source,
      seenMs: seen === undefined ? undefined : seen - from,
      passAfterSeenMs: seen === undefined ? undefined : passed - seen,
      passMs: passed - from,
      heldAtStart: ms(e.at)! < started,
    });
  }
  return out;
}

export interface Overhead {
  /** The chain's own time: trigger to last pod Running, plus workload deleted to last node gone. */
  intrinsicMs: number;
  /** main's wall time: process start to exit. */
  wallMs: number;
  overheadMs: number;
  ratio: number;
  /** Where the overhead is (they add up to it). */
  parts: {
    /** Process start to the workload applied (the trigger): setup stages. */
    beforeTriggerMs: number;
    /** Scale-up done (last pod Running, NodeClaims Initialized, nodes Ready) to the workload deleted: the action's reaction. */
    reactionMs: number;
    /** Last node gone to consolidation passed. */
    detectEndMs: number;
    /** Consolidation passed to exit: cleanup, evidence, upload. */
    afterChainMs: number;
  };
}

/**
 * Action wall time against the chain's own time, from one run's results and main's start/exit
 * (epoch ms). Intrinsic = trigger -> scale-up done, plus workload deleted -> last node gone.
 * The trigger is the workload's apply answer (host clock, which the bed shares);
 * the last condition is the last node gone (its DELETED event as received, else its deletionTimestamp).
 */
export function overhead(r: Results, mainStart: number, mainEnd: number): Overhead | undefined {
  const workload = r.stages.find((s) => s.name === 'workload' && s.status === 'pass');
  const last = r.stages.filter((s) => s.status === 'pass' && s.name !== 'cleanup').at(-1);
  const event = (name: TimelineEvent) => r.timeline.find((t) => t.event === name);
  const running = event('last-pod-running');
  if (!workload || !last || !running) return undefined;
  const trigger = ms(workload.finishedAt)!;
  // Scale-up is done when the last of these holds: the action checks all three before scaling down.
  const runningAt = Math.max(...(['last-pod-running', 'nodeclaim-initialized', 'node-ready'] as const).map((e) => ms(event(e)?.at) ?? 0));
  const deleted = event('workload-deleted');
  const gone = event('last-node-gone');
  const deletedAt = deleted ? ms(deleted.at)! : runningAt;
  const goneAt = gone ? (ms(gone.observedAt) ?? ms(gone.at)!) : runningAt;
  const intrinsicMs = runningAt - trigger + (goneAt - deletedAt);
  const wallMs = mainEnd - mainStart;
  return {
    intrinsicMs,
    wallMs,
    overheadMs: wallMs - intrinsicMs,
    ratio: wallMs / intrinsicMs,
    parts: {
      beforeTriggerMs: trigger - mainStart,
      reactionMs: deletedAt - runningAt,
      detectEndMs: ms(last.finishedAt)! - goneAt,
      afterChainMs: mainEnd - ms(last.finishedAt)!,
    },
  };
}

/** Duration of each stage that ran, by name. */
export const stageDurations = (r: Results): Partial<Record<StageName, number>> =>
  Object.fromEntries(r.stages.filter((s) => s.status !== 'skip').map((s) => [s.name, s.durationMs]));

/** Time from the workload applied to consolidation passed: what the polling baseline does the same checks for. */
export function checksWallMs(r: Results): number | undefined {
  const workload = r.stages.find((s) => s.name === 'workload' && s.status === 'pass');
  const end = r.stages.find((s) => s.name === 'consolidation' && s.status === 'pass');
  return workload && end ? ms(end.finishedAt)! - ms(workload.finishedAt)! : undefined;
}
