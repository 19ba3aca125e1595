import { describe, expect, it } from 'vitest';
import {
  HEARTBEAT_ANNOTATION,
  HEARTBEAT_STALE_MS,
  heartbeatPatch,
  KARPENTER_MODE_ANNOTATION,
  lastBeat,
  liveRuns,
  runsWithOwnKarpenter,
  staleObjects,
} from '../../src/checks/liveness.js';
import { heartbeatCarriers } from '../../src/stages/heartbeat.js';
import { newRunState } from '../../src/state.js';
import { configFrom } from '../../src/inputs.js';

const key = 'gpu-autoscaling-conformance/run-id';
const now = Date.parse('2026-11-30T12:00:00Z');
const ago = (ms: number) => new Date(now - ms).toISOString();
const obj = (name: string, run: string | undefined, created: string, beat?: string) => {
  const labels: Record<string, string> = run === undefined ? {} : { [key]: run };
  const annotations: Record<string, string> = beat === undefined ? {} : { [HEARTBEAT_ANNOTATION]: beat };
  // creationTimestamp arrives as a string from the API (the client's type says Date)
  return { metadata: { name, creationTimestamp: created as unknown as Date, labels, annotations } };
};

describe('run liveness', () => {
  it('takes the newest of heartbeat and creation as the last beat', () => {
    expect(lastBeat(obj('a', 'r', ago(60_000), ago(3_000)))).toBe(now - 3_000);
    expect(lastBeat(obj('a', 'r', ago(2_000), ago(60_000)))).toBe(now - 2_000);
    expect(lastBeat(obj('a', 'r', ago(9_000)))).toBe(now - 9_000);
    expect(lastBeat(obj('a', 'r', 'not a time', 'neither'))).toBeUndefined();
  });

  it('counts a run live while any of its objects beat within the stale window', () => {
    const carriers = [
      obj('ns-a', 'a', ago(600_000), ago(4_000)), // beating
      obj('ns-b', 'b', ago(600_000), ago(HEARTBEAT_STALE_MS + 1)), // stopped
      obj('pool-b', 'b', ago(600_000)), // created long ago, never beat
      obj('ns-c', 'c', ago(600_000), ago(600_000)),
      obj('pool-c', 'c', ago(1_000)), // just created: live
      obj('unlabelled', undefined, ago(0)),
    ];
    expect([...liveRuns(carriers, key, now)].sort()).toEqual(['a', 'c']);
  });

  it('leftovers are objects of other runs that are not live', () => {
    const self = { key, value: 'me' };
    const objs = [obj('mine', 'me', ago(0)), obj('crashed', 'x', ago(0)), obj('running', 'a', ago(0)), obj('plain', undefined, ago(0))];
    expect(staleObjects(objs, self, new Set(['a'])).map((o) => o.metadata.name)).toEqual(['crashed']);
    // without knowing of live runs, every other run's object is a leftover
    expect(staleObjects(objs, self).map((o) => o.metadata.name)).toEqual(['crashed', 'running']);
  });

  it('names the live runs that started a Karpenter of their own', () => {
    const withMode = (name: string, run: string, mode: string) => {
      const o = obj(name, run, ago(0));
      o.metadata.annotations[KARPENTER_MODE_ANNOTATION] = mode;
      return o;
    };
    const carriers = [
      withMode('ns-b', 'b', 'process'),
      withMode('pool-b', 'b', 'process'),
      withMode('ns-a', 'a', 'existing'),
      withMode('ns-x', 'x', 'process'),
    ];
    // x is not live: a crashed process-mode run has no Karpenter left running
    expect(runsWithOwnKarpenter(carriers, key, new Set(['a', 'b']))).toEqual(['b']);
    expect(runsWithOwnKarpenter(carriers, key, new Set(['a']))).toEqual([]);
  });

  it('renews the beat with a merge patch of one annotation', () => {
    expect(heartbeatPatch(new Date(now))).toEqual({ metadata: { annotations: { [HEARTBEAT_ANNOTATION]: '2026-11-30T12:00:00.000Z' } } });
  });
});

describe('heartbeat carriers', () => {
  const run = newRunState(configFrom({ 'run-id': 'r1' }));
  it('are none before the run created anything', () => {
    expect(heartbeatCarriers(run)).toEqual([]);
  });
  it('are the namespace once created and the NodePools the run created, not other objects', () => {
    const later = {
      ...run,
      namespaceCreatedAt: ago(1_000),
      appliedClusterObjects: [
        { apiVersion: 'karpenter.kwok.sh/v1alpha1', kind: 'KWOKNodeClass', name: 'default' },
        { apiVersion: 'karpenter.sh/v1', kind: 'NodePool', name: 'gpu' },
      ],
    };
    expect(heartbeatCarriers(later)).toEqual([
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'gpu-conformance-r1' } },
      { apiVersion: 'karpenter.sh/v1', kind: 'NodePool', metadata: { name: 'gpu' } },
    ]);
  });
});
