// The bench's arithmetic on a run's results.json: detection latency per stage and the overhead
// split, which the published figures rest on.
import { describe, expect, it } from 'vitest';
import { checksWallMs, overhead, stageLatencies } from '../../bench/lib/analyze.js';
import { typesWithGpus } from '../../bench/lib/fixtures.js';
import { BEGIN, END, renderReport } from '../../bench/lib/report.js';
import { median, summarize } from '../../bench/lib/stats.js';
import type { Results } from '../../src/evidence/model.js';
import type { StageName, StageRecord, TimelineEntry } from '../../src/types.js';

const T0 = Date.parse('2026-01-01T00:00:00Z');
const at = (s: number) => new Date(T0 + s * 1000).toISOString();
const stage = (name: StageName, from: number, to: number): StageRecord => ({
  name,
  status: 'pass',
  message: '',
  startedAt: at(from),
  finishedAt: at(to),
  durationMs: (to - from) * 1000,
  evidence: [],
  diagnostics: [],
});
const mark = (event: TimelineEntry['event'], t: number, seen?: number, source = 'x .lastTransitionTime'): TimelineEntry => ({
  event,
  at: at(t),
  source,
  observedAt: seen === undefined ? undefined : at(seen),
});

// Process starts at 0; workload applied at 10; pods Running at 40 (seen 40.2, schedule passes 40.5);
// workload deleted at 41; last node gone seen at 70; consolidation passes 70.3; cleanup to 75; exit 76.
const results = {
  stages: [
    stage('preflight', 1, 2),
    stage('workload', 9, 10),
    stage('hpa', 10, 25.4),
    stage('pending', 25.4, 25.5),
    stage('provision', 25.5, 31.6),
    stage('schedule', 30, 40.5),
    stage('consolidation', 40.5, 70.3),
    stage('cleanup', 70.3, 75),
  ],
  timeline: [
    mark('hpa-scale-decision', 25, 25.3),
    mark('first-pod-unschedulable', 11, 25.45),
    mark('node-ready', 30, 31),
    mark('nodeclaim-initialized', 31, 31.5),
    mark('last-pod-running', 40, 40.2),
    mark('workload-deleted', 41, 41),
    mark('last-node-gone', 60, 70, 'Node n .metadata.deletionTimestamp (last removed)'),
    mark('metric-first-seen', 5, 5, 'external metrics answer (receipt time)'),
  ],
} as unknown as Results;

describe('bench analysis', () => {
  it('detection latency: seen and passed against the cluster time, skipping receipt-time points', () => {
    const l = stageLatencies(results);
    expect(l.map((x) => x.stage)).toEqual(['hpa', 'pending', 'provision', 'schedule', 'consolidation']);
    // pods were Unschedulable long before the pending stage began: counted from its start
    expect(l[1]).toMatchObject({ heldAtStart: true, seenMs: 50, passMs: 100 });
    // provision completes with the later of its conditions
    expect(l[2]).toMatchObject({ event: 'nodeclaim-initialized', seenMs: 500, heldAtStart: false });
    const hpa = l[0]!;
    expect(hpa.seenMs).toBeCloseTo(300);
    expect(hpa.passAfterSeenMs).toBeCloseTo(100);
    expect(hpa.passMs).toBeCloseTo(400);
  });

  it('overhead: intrinsic excludes setup, the reaction gap, end detection and teardown, which add up to it', () => {
    const o = overhead(results, T0, T0 + 76_000)!;
    expect(o.intrinsicMs).toBe(30_000 + 29_000); // 10→40, then 41→70 (the DELETED receipt)
    expect(o.wallMs).toBe(76_000);
    expect(o.parts).toEqual({ beforeTriggerMs: 10_000, reactionMs: 1000, detectEndMs: 300, afterChainMs: 5700 });
    expect(Object.values(o.parts).reduce((a, b) => a + b, 0)).toBe(o.overheadMs);
    expect(o.ratio).toBeCloseTo(76 / 59);
    expect(checksWallMs(results)).toBe(60_300);
  });

  it('no overhead figure for a run that never got pods Running', () => {
    expect(overhead({ ...results, timeline: [] } as Results, T0, T0 + 1000)).toBeUndefined();
  });

  it('stats and fixtures', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 2, 3])).toBe(2.5);
    expect(summarize([undefined, 5, 1])).toEqual({ n: 2, median: 3, min: 1, max: 5 });
    expect(summarize([undefined])).toBeUndefined();
    const t = (name: string, gpu: string) => ({ name, resources: { 'nvidia.com/gpu': gpu } }) as never;
    expect(typesWithGpus([t('a', '1'), t('b', '8'), t('c', '1')], 1).map((x: { name: string }) => x.name)).toEqual(['a', 'c']);
  });

  it('the report is one block between markers, with a row per stage that has figures', () => {
    const md = renderReport({
      schema: 'x',
      startedAt: at(0),
      finishedAt: at(60),
      command: 'node bench/run.ts',
      commit: 'abc',
      machine: { cpus: 2, cpuModel: 'cpu', memoryGiB: 24, kernel: 'Linux', node: 'v24', go: 'go1.26' },
      bedVersions: {},
      options: { runs: 1, scales: [], pollIntervalS: 10, polling: false, cache: false, coldGo: false },
      runs: [
        {
          label: 'metric-1',
          ok: true,
          result: 'pass',
          failedStage: null,
          mainWallMs: 76_000,
          postWallMs: 1000,
          overhead: overhead(results, T0, T0 + 76_000),
          latencies: stageLatencies(results),
          stageMs: {},
          cache: [],
          apiByKind: {},
          nodes: 1,
          pods: 4,
        },
      ],
      scale: [],
      problems: [],
    });
    expect(md.startsWith(BEGIN) && md.endsWith(END)).toBe(true);
    expect(md).toContain('| hpa | hpa-scale-decision');
    expect(md).toContain('| **ratio** (wall / intrinsic) | 1.29 |');
  });
});
